"""rnxstudio: label, inspect and fine-tune a ResNeXt Faster R-CNN detector in one desktop app."""

__version__ = "0.1.0"
