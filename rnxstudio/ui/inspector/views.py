"""Small widgets of the inspector: numpy -> QImage, a hoverable image view, the stage strip."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QListView, QSizePolicy, QWidget


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """HxWx3 uint8 RGB -> an independent QImage (the numpy buffer may be freed afterwards)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got {rgb.shape} {rgb.dtype}")
    arr = np.ascontiguousarray(rgb)
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, int(arr.strides[0]), QImage.Format.Format_RGB888).copy()


def qimage_to_rgb(img: QImage) -> np.ndarray:
    """QImage -> HxWx3 uint8 RGB copy (tests and screenshots)."""
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


class ImageView(QWidget):
    """Shows one QImage scaled to fit (aspect kept); reports the hovered image pixel."""

    hovered = Signal(float, float)  # image x, y (pixels of the shown image)
    left = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image = QImage()
        self.setMouseTracking(True)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_image(self, img: QImage) -> None:
        self._image = img
        self.update()

    def image(self) -> QImage:
        return self._image

    def _target(self) -> QRectF:
        if self._image.isNull():
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        s = min(self.width() / iw, self.height() / ih)
        w, h = iw * s, ih * s
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def widget_to_image(self, pos: QPointF) -> tuple[float, float] | None:
        r = self._target()
        if r.isEmpty() or not r.contains(pos):
            return None
        s = r.width() / self._image.width()
        return (pos.x() - r.left()) / s, (pos.y() - r.top()) / s

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(32, 32, 32))
        if not self._image.isNull():
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            p.drawImage(self._target(), self._image)
        p.end()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pt = self.widget_to_image(event.position())
        if pt is None:
            self.left.emit()
        else:
            self.hovered.emit(*pt)

    def leaveEvent(self, _event) -> None:  # noqa: N802
        self.left.emit()


class StageStrip(QListWidget):
    """A horizontal strip of small maps, one per stage (stem -> res5 -> P2..P6 -> rpn)."""

    stage_clicked = Signal(str)
    THUMB = 72

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(self.THUMB, self.THUMB))
        self.setFixedHeight(self.THUMB + 48)
        self.setSpacing(2)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.itemClicked.connect(lambda it: self.stage_clicked.emit(it.data(Qt.ItemDataRole.UserRole)))

    def set_thumbnails(self, thumbs: list[tuple[str, str, np.ndarray]]) -> None:
        """``(stage, caption, rgb thumbnail)`` in display order."""
        self.clear()
        for stage, caption, rgb in thumbs:
            pm = QPixmap.fromImage(rgb_to_qimage(rgb)).scaled(
                self.THUMB, self.THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
            item = QListWidgetItem(pm, caption)
            item.setData(Qt.ItemDataRole.UserRole, stage)
            item.setToolTip(caption.replace("\n", "  "))
            self.addItem(item)

    def select_stage(self, stage: str) -> None:
        for i in range(self.count()):
            if self.item(i).data(Qt.ItemDataRole.UserRole) == stage:
                self.setCurrentRow(i)
                return

    def stages(self) -> list[str]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]
