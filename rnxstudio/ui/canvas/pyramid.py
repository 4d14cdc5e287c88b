"""Display pyramid: the image at 1/1, 1/2, 1/4 ... built lazily for zoomed-out painting.

Painting a 12 MP pixmap scaled down on every repaint is what makes big images feel sluggish.
Each level is made once per image from the previous one with an area filter (cv2, a few ms for
a clean halving), wrapped in a QImage on the GUI thread, and turned into a QPixmap. The numpy
buffers stay referenced here for as long as their QImages live.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap

MAX_LEVEL = 16
MIN_LEVEL_SIDE = 64


class ImagePyramid:
    """Levels of one upright RGB uint8 image; level ``n`` is the image shrunk ``n`` times."""

    def __init__(self, rgb: np.ndarray) -> None:
        self._arrays: dict[int, np.ndarray] = {1: np.ascontiguousarray(rgb)}
        self._images: dict[int, QImage] = {}
        self._pixmaps: dict[int, QPixmap] = {}
        h, w = rgb.shape[:2]
        self.size = (int(w), int(h))

    def level_for(self, zoom: float, max_level: int = MAX_LEVEL) -> int:
        """The coarsest level that still has at least one source pixel per screen pixel."""
        w, h = self.size
        level = 1
        while level * 2 <= max_level and zoom * level * 2 <= 1.0 and min(w, h) // (level * 2) >= MIN_LEVEL_SIDE:
            level *= 2
        return level

    def array(self, level: int) -> np.ndarray:
        arr = self._arrays.get(level)
        if arr is None:
            import cv2  # only needed once an image is shown zoomed out

            src = self.array(level // 2)
            w, h = self.size
            arr = cv2.resize(src, (max(1, w // level), max(1, h // level)), interpolation=cv2.INTER_AREA)
            self._arrays[level] = np.ascontiguousarray(arr)
        return arr

    def pixmap(self, level: int) -> QPixmap:
        pix = self._pixmaps.get(level)
        if pix is None:
            arr = self.array(level)
            lh, lw = arr.shape[:2]
            img = QImage(arr.data, lw, lh, int(arr.strides[0]), QImage.Format.Format_RGB888)
            self._images[level] = img  # the QImage borrows arr's memory; both stay referenced
            pix = self._pixmaps[level] = QPixmap.fromImage(img)
        return pix

    def scale_of(self, level: int) -> tuple[float, float]:
        """Factors mapping level pixels back to image pixels (exact, also for odd sizes)."""
        pix = self.pixmap(level)
        w, h = self.size
        return (w / pix.width(), h / pix.height())
