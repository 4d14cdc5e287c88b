"""Interaction tools of the canvas: select/move/resize and draw.

A tool receives mouse positions already mapped to image pixels (scene coordinates are image
pixels) plus the view position for pixel-sized tolerances. Tools change only the *preview*
of an item; the finished edit goes out through the canvas signals, and the controller decides
what the store becomes (the canvas never touches the store).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsLineItem, QGraphicsRectItem, QGraphicsScene

from rnxstudio.core import geometry as geo
from rnxstudio.ui.canvas.items import Z_OVERLAY


class ImageCanvas(Protocol):
    """What a tool uses of the canvas (:class:`rnxstudio.ui.canvas.view.ImageCanvas`); a
    protocol, so the tools do not import the view that owns them."""

    def scene(self) -> QGraphicsScene: ...

    def image_size(self) -> tuple[int, int] | None: ...

    def box_at(self, pos: QPointF, view_pos: QPointF | None = None) -> int | None: ...

    def handle_at(self, view_pos: QPointF) -> tuple[int, str] | None: ...

    def has_box(self, box_id: int) -> bool: ...

    def box_xyxy(self, box_id: int) -> geo.XYXY: ...

    def selected_ids(self) -> list[int]: ...

    def select(self, ids: Iterable[int]) -> None: ...

    def preview_box(self, box_id: int, xyxy: geo.XYXY) -> None: ...

    def commit_edit(self, box_id: int, xyxy: geo.XYXY) -> None: ...

    def finish_drawing(self, xyxy: geo.XYXY) -> None: ...

    def current_color(self) -> str: ...

    def set_hover_cursor(self, shape: Qt.CursorShape) -> None: ...

DRAG_THRESHOLD_PX = 3.0
"""A press must travel this far (screen pixels) before it counts as a move."""

_RESIZE_CURSORS = {
    "tl": Qt.CursorShape.SizeFDiagCursor, "br": Qt.CursorShape.SizeFDiagCursor,
    "tr": Qt.CursorShape.SizeBDiagCursor, "bl": Qt.CursorShape.SizeBDiagCursor,
    "t": Qt.CursorShape.SizeVerCursor, "b": Qt.CursorShape.SizeVerCursor,
    "l": Qt.CursorShape.SizeHorCursor, "r": Qt.CursorShape.SizeHorCursor,
}


class Tool:
    """Base class: every handler is a no-op."""

    name = ""

    def __init__(self, canvas: ImageCanvas) -> None:
        self.canvas = canvas

    def activate(self) -> None:
        """Called when the tool becomes current."""

    def deactivate(self) -> None:
        """Called when another tool takes over; drop any gesture in progress."""
        self.cancel()

    def press(self, pos: QPointF, view_pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        pass

    def move(self, pos: QPointF, view_pos: QPointF) -> None:
        pass

    def release(self, pos: QPointF, view_pos: QPointF) -> None:
        pass

    def cancel(self) -> bool:
        """Abort a gesture in progress; True when there was one."""
        return False

    def refresh(self) -> None:
        """Boxes were replaced under the tool; re-apply or drop the gesture preview."""

    @property
    def active(self) -> bool:
        return False


class SelectTool(Tool):
    """Click to select (Ctrl toggles), drag a box to move it, drag a handle to resize it."""

    name = "select"

    def __init__(self, canvas: ImageCanvas) -> None:
        super().__init__(canvas)
        self._box_id: int | None = None
        self._handle: str | None = None  # None = move
        self._orig: geo.XYXY | None = None
        self._press_scene = QPointF()
        self._press_view = QPointF()
        self._dragging = False
        self._preview: geo.XYXY | None = None

    @property
    def active(self) -> bool:
        return self._box_id is not None

    def press(self, pos: QPointF, view_pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        c = self.canvas
        hit = c.handle_at(view_pos)
        if hit is not None:
            box_id, handle = hit
            self._begin(box_id, handle, pos, view_pos)
            self._dragging = True  # a handle press is a resize from the first pixel
            return
        box_id = c.box_at(pos, view_pos)
        toggle = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
        if box_id is None:
            if not toggle:
                c.select([])
            return
        if toggle:
            ids = c.selected_ids()
            c.select([i for i in ids if i != box_id] if box_id in ids else ids + [box_id])
            return
        if box_id not in c.selected_ids():
            c.select([box_id])
        self._begin(box_id, None, pos, view_pos)

    def _begin(self, box_id: int, handle: str | None, pos: QPointF, view_pos: QPointF) -> None:
        self._box_id = box_id
        self._handle = handle
        self._orig = self.canvas.box_xyxy(box_id)
        self._press_scene = QPointF(pos)
        self._press_view = QPointF(view_pos)
        self._dragging = False
        self._preview = self._orig

    def move(self, pos: QPointF, view_pos: QPointF) -> None:
        c = self.canvas
        if self._box_id is None or self._orig is None:
            c.set_hover_cursor(self.hover_cursor(pos, view_pos))
            return
        if not self._dragging:
            d = view_pos - self._press_view
            if max(abs(d.x()), abs(d.y())) < DRAG_THRESHOLD_PX:
                return
            self._dragging = True
        w, h = c.image_size() or (0, 0)
        if self._handle is None:
            delta = pos - self._press_scene
            self._preview = geo.moved(self._orig, delta.x(), delta.y(), w, h)
        else:
            self._preview = geo.resized(self._orig, self._handle, pos.x(), pos.y(), w, h)
        c.preview_box(self._box_id, self._preview)

    def release(self, pos: QPointF, view_pos: QPointF) -> None:
        box_id, orig, preview, dragging = self._box_id, self._orig, self._preview, self._dragging
        self._reset()
        if box_id is None or not dragging or preview is None or preview == orig:
            return
        self.canvas.commit_edit(box_id, preview)

    def cancel(self) -> bool:
        if self._box_id is None:
            return False
        box_id, orig = self._box_id, self._orig
        self._reset()
        if orig is not None and self.canvas.has_box(box_id):
            self.canvas.preview_box(box_id, orig)
        return True

    def refresh(self) -> None:
        if self._box_id is None:
            return
        if not self.canvas.has_box(self._box_id):
            self._reset()
        elif self._dragging and self._preview is not None:
            self.canvas.preview_box(self._box_id, self._preview)

    def _reset(self) -> None:
        self._box_id = None
        self._handle = None
        self._orig = None
        self._preview = None
        self._dragging = False

    def hover_cursor(self, pos: QPointF, view_pos: QPointF) -> Qt.CursorShape:
        hit = self.canvas.handle_at(view_pos)
        if hit is not None:
            return _RESIZE_CURSORS[hit[1]]
        if self.canvas.box_at(pos, view_pos) is not None:
            return Qt.CursorShape.SizeAllCursor
        return Qt.CursorShape.ArrowCursor


class DrawTool(Tool):
    """Drag out a new box in the current class colour, with crosshair guides across the image."""

    name = "draw"

    def __init__(self, canvas: ImageCanvas) -> None:
        super().__init__(canvas)
        self._start: tuple[float, float] | None = None
        self._rubber: QGraphicsRectItem | None = None
        self._guides: tuple[QGraphicsLineItem, QGraphicsLineItem] | None = None

    @property
    def active(self) -> bool:
        return self._start is not None

    def activate(self) -> None:
        self.canvas.set_hover_cursor(Qt.CursorShape.CrossCursor)

    def deactivate(self) -> None:
        self.cancel()
        self._remove_guides()

    def _pen(self, dashed: bool) -> QPen:
        pen = QPen(QColor(self.canvas.current_color()), 1.0 if not dashed else 2.0)
        pen.setCosmetic(True)
        pen.setStyle(Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
        return pen

    def _update_guides(self, pos: QPointF) -> None:
        size = self.canvas.image_size()
        if size is None:
            self._remove_guides()
            return
        w, h = size
        x, y = geo.clamp_point(pos.x(), pos.y(), w, h)
        if self._guides is None:
            scene = self.canvas.scene()
            self._guides = (QGraphicsLineItem(), QGraphicsLineItem())
            for line in self._guides:
                line.setZValue(Z_OVERLAY)
                line.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
                scene.addItem(line)
        pen = self._pen(dashed=False)
        pen.setColor(QColor(255, 255, 255, 170))
        horizontal, vertical = self._guides
        horizontal.setPen(pen)
        vertical.setPen(pen)
        horizontal.setLine(0.0, y, float(w), y)
        vertical.setLine(x, 0.0, x, float(h))

    def _remove_guides(self) -> None:
        if self._guides is not None:
            for line in self._guides:
                if line.scene() is not None:
                    line.scene().removeItem(line)
            self._guides = None

    def guides_visible(self) -> bool:
        return self._guides is not None

    def press(self, pos: QPointF, view_pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        size = self.canvas.image_size()
        if size is None:
            return
        self._start = geo.clamp_point(pos.x(), pos.y(), *size)
        self._rubber = QGraphicsRectItem()
        self._rubber.setPen(self._pen(dashed=True))
        self._rubber.setZValue(Z_OVERLAY)
        self._rubber.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.canvas.scene().addItem(self._rubber)
        self._rubber.setRect(QRectF(self._start[0], self._start[1], 0.0, 0.0))

    def move(self, pos: QPointF, view_pos: QPointF) -> None:
        self._update_guides(pos)
        size = self.canvas.image_size()
        if self._start is None or self._rubber is None or size is None:
            return
        x1, y1, x2, y2 = geo.normalized(self._start, geo.clamp_point(pos.x(), pos.y(), *size))
        self._rubber.setRect(QRectF(x1, y1, x2 - x1, y2 - y1))

    def release(self, pos: QPointF, view_pos: QPointF) -> None:
        size = self.canvas.image_size()
        start = self._start
        self._drop_rubber()
        if start is None or size is None:
            return
        end = geo.clamp_point(pos.x(), pos.y(), *size)
        rect = geo.clipped(geo.normalized(start, end), *size)
        if rect is None:
            return  # a click or a sliver: nothing to create
        self.canvas.finish_drawing(rect)

    def cancel(self) -> bool:
        was = self._start is not None
        self._drop_rubber()
        return was

    def _drop_rubber(self) -> None:
        if self._rubber is not None and self._rubber.scene() is not None:
            self._rubber.scene().removeItem(self._rubber)
        self._rubber = None
        self._start = None
