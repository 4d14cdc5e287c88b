"""The annotation canvas: image view, box items and the editing tools."""

from rnxstudio.ui.canvas.view import ImageCanvas

__all__ = ["ImageCanvas"]
