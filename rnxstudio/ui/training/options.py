"""The fine-tune dialog's options live in :mod:`rnxstudio.ml.finetune_options` (Qt-free, so the
headless loop benchmark fine-tunes through the same code); re-exported here for the ui wing."""

from rnxstudio.ml.finetune_options import FinetuneOptions, default_lr, recommended_options

__all__ = ["FinetuneOptions", "default_lr", "recommended_options"]
