"""Scene items for boxes: the outline, its label and its 8 resize handles.

Items are purely visual: they accept no mouse buttons. Hit testing and editing live in the
view's tools, which keeps the behaviour in one place and makes it testable. Pens are cosmetic
and labels/handles ignore the view transform, so they keep their screen size at any zoom.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QStyleOptionGraphicsItem, QWidget

from rnxstudio.core.model import Box, BoxSource, Category, default_color
from rnxstudio.core.geometry import HANDLES, handle_points

HANDLE_SIZE = 8.0
"""Handle edge length in screen pixels."""

Z_IMAGE = 0.0
Z_BOX = 10.0
Z_SELECTED = 20.0
Z_OVERLAY = 30.0


def label_text(box: Box, category: Category | None) -> str:
    """What the label shows: the class name, plus the score for predictions."""
    name = category.name if category is not None else f"#{box.category_id}"
    if box.source == BoxSource.PREDICTED and box.score is not None:
        return f"{name} {box.score:.2f}"
    return name


def category_color(box: Box, category: Category | None) -> QColor:
    color = QColor(category.color if category is not None else default_color(box.category_id))
    if not color.isValid():
        color = QColor(default_color(box.category_id))
    return color


class LabelItem(QGraphicsItem):
    """A filled tag with the class name drawn at a constant screen size above a box."""

    _font: QFont | None = None
    _metrics: QFontMetricsF | None = None

    @classmethod
    def _font_and_metrics(cls) -> tuple[QFont, QFontMetricsF]:
        if cls._font is None or cls._metrics is None:
            font = QFont()
            font.setPointSizeF(8.5)
            cls._font, cls._metrics = font, QFontMetricsF(font)
        return cls._font, cls._metrics

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # text is costly to draw
        self._text = ""
        self._color = QColor()
        self._rect = QRectF()

    def set_content(self, text: str, color: QColor) -> None:
        if text == self._text and color == self._color:
            return
        self.prepareGeometryChange()
        self._text = text
        self._color = QColor(color)
        _font, fm = self._font_and_metrics()
        w = fm.horizontalAdvance(text) + 6.0
        h = fm.height() + 2.0
        # Anchored at the box's top-left corner, sitting just above it.
        inside = not self._rect.isNull() and self._rect.top() >= 0.0
        self._rect = QRectF(0.0, 0.0 if inside else -h, w, h)
        self.update()

    def set_inside(self, inside: bool) -> None:
        """Hang the tag inside the box (under its top edge) instead of above it."""
        if inside == (self._rect.top() >= 0.0) or self._rect.isNull():
            return
        self.prepareGeometryChange()
        h = self._rect.height()
        self._rect.moveTop(0.0 if inside else -h)
        self.update()

    def height(self) -> float:
        return self._rect.height()

    @property
    def text(self) -> str:
        return self._text

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.fillRect(self._rect, self._color)
        luminance = 0.299 * self._color.red() + 0.587 * self._color.green() + 0.114 * self._color.blue()
        painter.setPen(QColor("black") if luminance > 150 else QColor("white"))
        painter.setFont(self._font_and_metrics()[0])
        painter.drawText(self._rect.adjusted(3.0, 0.0, -3.0, 0.0), Qt.AlignmentFlag.AlignVCenter, self._text)


class HandleItem(QGraphicsRectItem):
    """One square resize handle, constant size on screen."""

    def __init__(self, name: str, parent: QGraphicsItem) -> None:
        half = HANDLE_SIZE / 2.0
        super().__init__(-half, -half, HANDLE_SIZE, HANDLE_SIZE, parent)
        self.name = name
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setBrush(QBrush(QColor("white")))


class BoxItem(QGraphicsRectItem):
    """The drawing of one :class:`Box`: outline (dashed for predictions), label, handles."""

    def __init__(self, box: Box, category: Category | None) -> None:
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.box = box
        self._selected = False
        self.view_zoom = 1.0  # kept current by the canvas; places the label
        self._label = LabelItem(self)
        self._handles: dict[str, HandleItem] = {}  # made on first selection (most boxes never are)
        self.setZValue(Z_BOX)
        self.update_box(box, category)

    def update_box(self, box: Box, category: Category | None) -> None:
        """Restyle and move the item to ``box`` (cheap when nothing changed)."""
        self.box = box
        self._category = category
        self.set_rect(box.xyxy)
        self._restyle()

    def set_rect(self, xyxy: tuple[float, float, float, float]) -> None:
        """Move the outline, label and handles (used for live drag previews too)."""
        x1, y1, x2, y2 = xyxy
        rect = QRectF(x1, y1, x2 - x1, y2 - y1)
        if rect != self.rect():
            self.setRect(rect)
        self._label.setPos(QPointF(x1, y1))
        # Near the image's top edge the tag would hang outside the image: put it inside.
        self._label.set_inside(y1 * self.view_zoom < self._label.height())
        if self._handles:
            for name, (hx, hy) in handle_points(xyxy).items():
                self._handles[name].setPos(QPointF(hx, hy))

    def set_view_zoom(self, zoom: float) -> None:
        self.view_zoom = zoom
        self._label.set_inside(self.box.y1 * zoom < self._label.height())

    def current_xyxy(self) -> tuple[float, float, float, float]:
        r = self.rect()
        return (r.left(), r.top(), r.right(), r.bottom())

    def set_selected(self, selected: bool) -> None:
        self._selected = selected
        if selected and not self._handles:
            self._handles = {name: HandleItem(name, self) for name in HANDLES}
            self.set_rect(self.current_xyxy())
        for h in self._handles.values():
            h.setVisible(selected)
        self.setZValue(Z_SELECTED if selected else Z_BOX)
        self._restyle()

    @property
    def is_selected(self) -> bool:
        return self._selected

    @property
    def label_text(self) -> str:
        return self._label.text

    def _restyle(self) -> None:
        color = category_color(self.box, self._category)
        pen = QPen(color, 3.0 if self._selected else 2.0)
        pen.setCosmetic(True)
        pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        if self.box.source == BoxSource.PREDICTED:
            pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)
        fill = QColor(color)
        fill.setAlpha(60 if self._selected else 0)
        self.setBrush(QBrush(fill) if self._selected else QBrush(Qt.BrushStyle.NoBrush))
        self._label.set_content(label_text(self.box, self._category), color)
        if self._handles:
            handle_pen = QPen(color, 1.5)
            handle_pen.setCosmetic(True)
            for h in self._handles.values():
                h.setPen(handle_pen)
