"""ImageCanvas: the zoomable, pannable image view on which boxes are drawn and edited.

Scene coordinates are image pixels, so a box's ``xyxy`` is also its scene rectangle and the
zoom is the view's scale. The canvas only *shows* boxes and reports what the user did through
signals; the controller turns those into undoable commands and calls :meth:`set_boxes` again.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QThread, Signal
from PySide6.QtGui import QBrush, QColor, QKeyEvent, QMouseEvent, QPainter, QPixmap, QTransform, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsTextItem,
    QGraphicsView,
    QWidget,
)

from rnxstudio.ui.canvas.boxes import BoxLayerMixin
from rnxstudio.ui.canvas.items import Z_IMAGE
from rnxstudio.ui.canvas.pyramid import ImagePyramid
from rnxstudio.ui.canvas.tools import DrawTool, SelectTool, Tool
from rnxstudio.ui.keys import SpaceGesture

MIN_ZOOM = 0.01
MAX_ZOOM = 64.0
ZOOM_STEP = 1.25
MAX_LEVEL = 16
"""Largest downscale factor of the display pyramid used when zoomed out (1 disables it)."""


class ImageCanvas(BoxLayerMixin, QGraphicsView):
    """Image + boxes view. See the module docstring; signals carry image-pixel coordinates."""

    box_drawn = Signal(tuple)  # (x1, y1, x2, y2) of a new box, clipped to the image
    box_edited = Signal(int, tuple)  # box id, new (x1, y1, x2, y2); once per drag / key press
    selection_changed = Signal(list)  # selected box ids
    delete_requested = Signal(list)  # box ids
    accept_requested = Signal(list)  # ids of selected *predicted* boxes
    edit_class_requested = Signal(list)  # box ids (double-click / Enter on non-predictions)
    zoom_changed = Signal(float)
    cursor_moved = Signal(float, float)  # image pixels
    mode_changed = Signal(str)  # "select" | "draw"
    space_tapped = Signal()  # Space tapped: pressed and released quickly, without panning

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QBrush(QColor(48, 48, 52)))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self._pixmap_item = QGraphicsPixmapItem()
        self._pixmap_item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self._pixmap_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._pixmap_item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._pixmap_item.setZValue(Z_IMAGE)
        # Repaints for box edits, hover and pans blit the cached device-size image.
        self._pixmap_item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.scene().addItem(self._pixmap_item)
        self._error_item = QGraphicsTextItem()
        self._error_item.setDefaultTextColor(QColor("#ff8080"))
        self._error_item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self._error_item.setVisible(False)
        self.scene().addItem(self._error_item)

        self._pyramid: ImagePyramid | None = None  # owns the numpy buffers behind the QImages
        self._level = 0  # pyramid level on screen (0 = none yet)
        self._size: tuple[int, int] | None = None
        self._error: str | None = None

        self._init_box_layer()
        self.continuous_draw = False
        """Stay in draw mode after a box is drawn (default: back to select, as in LabelImg)."""

        self._fit_mode = True
        self._pan_last: QPointF | None = None
        self._space = SpaceGesture()
        self._tools: dict[str, Tool] = {"select": SelectTool(self), "draw": DrawTool(self)}
        self._mode = "select"

    # ------------------------------------------------------------------ image
    def set_image(self, rgb: np.ndarray | None, *, error: str | None = None) -> None:
        """Show an upright RGB uint8 ``H x W x 3`` array, or nothing / an error message.

        Boxes and selection are cleared (call :meth:`set_boxes` after). The zoom is kept when
        the new image has the same size and the user zoomed by hand; otherwise it fits.
        """
        if QThread.currentThread() is not self.thread():
            raise RuntimeError("ImageCanvas.set_image must be called on the GUI thread")
        self._tool.cancel()
        self.set_boxes([], self._categories)
        old_size = self._size
        self._level = 0
        if rgb is None:
            self._pyramid = None
            self._size = None
            self._pixmap_item.setPixmap(QPixmap())
            self._pixmap_item.setVisible(False)
            self._show_error(error)
            return
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            shape = getattr(rgb, "shape", None)
            raise ValueError(f"set_image expects an HxWx3 uint8 RGB array, got {type(rgb).__name__} {shape}")
        h, w = int(rgb.shape[0]), int(rgb.shape[1])
        if w < 1 or h < 1:
            raise ValueError(f"set_image got an empty image ({w}x{h})")
        self._show_error(None)
        self._pyramid = ImagePyramid(rgb)
        self._size = (w, h)
        self._pixmap_item.setVisible(True)
        self.scene().setSceneRect(QRectF(0.0, 0.0, float(w), float(h)))
        if self._fit_mode or old_size != self._size:
            self.fit()
        self._update_level()

    def _show_error(self, error: str | None) -> None:
        self._error = error
        self._error_item.setVisible(bool(error))
        if not error:
            return
        self._error_item.setPlainText(error)
        self._error_item.setTextWidth(max(200.0, self.viewport().width() - 40.0))
        self.setTransform(QTransform())
        r = self._error_item.boundingRect()
        self._error_item.setPos(0.0, 0.0)
        self.scene().setSceneRect(QRectF(0.0, 0.0, r.width(), r.height()))
        self.centerOn(r.center())

    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of the shown image, or None."""
        return self._size

    def error_text(self) -> str | None:
        """The error shown in place of an image, if any."""
        return self._error

    def displayed_level(self) -> int:
        """Downscale factor of the pixmap currently drawn (1 = full resolution)."""
        return self._level

    def _update_level(self) -> None:
        """Draw a pre-shrunk copy when zoomed out, so paints never scale 12 MP on the fly."""
        if self._pyramid is None:
            return
        level = self._pyramid.level_for(self.zoom(), MAX_LEVEL)
        if level == self._level:
            return
        self._pixmap_item.setPixmap(self._pyramid.pixmap(level))
        self._pixmap_item.setTransform(QTransform.fromScale(*self._pyramid.scale_of(level)))
        self._level = level

    # ------------------------------------------------------------------ zoom
    def zoom(self) -> float:
        return float(self.transform().m11())

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Scale to ``zoom`` keeping the image point under ``anchor`` (view pixels) fixed."""
        zoom = min(max(float(zoom), MIN_ZOOM), MAX_ZOOM)
        vp = self.viewport().rect()
        view_center = QPointF(vp.width() / 2.0, vp.height() / 2.0)
        anchor = view_center if anchor is None else QPointF(anchor)
        scene_pt = self.map_to_image(anchor)
        old = self.zoom()
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self.centerOn(scene_pt - (anchor - view_center) / zoom)
        self._update_level()
        if not math.isclose(old, zoom):
            for item in self._items.values():
                item.set_view_zoom(zoom)
            self.zoom_changed.emit(zoom)

    def fit(self) -> None:
        """Scale the whole image into the view (and keep fitting on resize)."""
        self._fit_mode = True
        if self._size is None:
            return
        w, h = self._size
        vp = self.viewport().rect()
        z = min(max(vp.width() - 4, 1) / w, max(vp.height() - 4, 1) / h)
        self.set_zoom(z)
        self.centerOn(QPointF(w / 2.0, h / 2.0))

    def zoom_100(self) -> None:
        self._fit_mode = False
        self.set_zoom(1.0)

    def zoom_in(self) -> None:
        self._fit_mode = False
        self.set_zoom(self.zoom() * ZOOM_STEP)

    def zoom_out(self) -> None:
        self._fit_mode = False
        self.set_zoom(self.zoom() / ZOOM_STEP)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        steps = event.angleDelta().y() / 120.0
        if steps == 0 or self._size is None:
            event.ignore()
            return
        self._fit_mode = False
        self.set_zoom(self.zoom() * ZOOM_STEP**steps, event.position())
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    # ------------------------------------------------------------ mapping
    def map_to_image(self, view_pos: QPointF) -> QPointF:
        """View (viewport) pixel position -> image pixel position, sub-pixel exact."""
        inverse, _ok = self.viewportTransform().inverted()
        return inverse.map(QPointF(view_pos))

    def map_from_image(self, x: float, y: float) -> QPointF:
        """Image pixel position -> view (viewport) pixel position."""
        return self.viewportTransform().map(QPointF(x, y))

    def set_hover_cursor(self, shape: Qt.CursorShape) -> None:
        if self._pan_last is None and not self._space.down:
            self.viewport().setCursor(shape)

    # ------------------------------------------------------------------ modes
    @property
    def mode(self) -> str:
        return self._mode

    @property
    def _tool(self) -> Tool:
        return self._tools[self._mode]

    def set_mode(self, mode: str) -> None:
        """"select" (edit existing boxes) or "draw" (drag to create one)."""
        if mode not in self._tools:
            raise ValueError(f"unknown canvas mode {mode!r}; expected one of {sorted(self._tools)}")
        if mode == self._mode:
            return
        self._tool.deactivate()
        self._mode = mode
        self.viewport().setCursor(Qt.CursorShape.CrossCursor if mode == "draw" else Qt.CursorShape.ArrowCursor)
        self._tool.activate()
        self.mode_changed.emit(mode)

    def cancel(self) -> None:
        """Escape: drop a gesture in progress, else leave draw mode, else clear the selection."""
        if self._tool.cancel():
            return
        if self._mode != "select":
            self.set_mode("select")
        else:
            self.clear_selection()

    # ------------------------------------------------------------ mouse
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        pos = event.position()
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space.down):
            self._pan_last = QPointF(pos)
            self._space.used()  # a Space held for a drag is not a tap
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if button == Qt.MouseButton.LeftButton and self._size is not None:
            self._tool.press(self.map_to_image(pos), pos, event.modifiers())
            event.accept()
            return
        event.ignore()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = event.position()
        if self._pan_last is not None:
            delta = pos - self._pan_last
            self._pan_last = QPointF(pos)
            self._fit_mode = False
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            event.accept()
            return
        if self._size is None:
            return
        scene_pos = self.map_to_image(pos)
        self._tool.move(scene_pos, pos)
        self.cursor_moved.emit(scene_pos.x(), scene_pos.y())
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = event.position()
        if self._pan_last is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_last = None
            self.viewport().setCursor(
                Qt.CursorShape.OpenHandCursor if self._space.down else
                (Qt.CursorShape.CrossCursor if self._mode == "draw" else Qt.CursorShape.ArrowCursor)
            )
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and self._size is not None:
            self._tool.release(self.map_to_image(pos), pos)
            event.accept()
            return
        event.ignore()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton and self._mode == "select" and self._size is not None:
            box_id = self.box_at(self.map_to_image(event.position()), event.position())
            if box_id is not None:
                self.select([box_id])
                self.edit_class_requested.emit([box_id])
                event.accept()
                return
        self.mousePressEvent(event)

    # ------------------------------------------------------------ keyboard
    def event(self, event: QEvent) -> bool:  # noqa: D401 - Qt override
        et = event.type()
        if et == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            # Space is ours while the canvas has focus (pan); a plain tap is re-emitted.
            if event.key() == Qt.Key.Key_Space and event.modifiers() == Qt.KeyboardModifier.NoModifier:
                event.accept()
                return True
        if et == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
                back = event.key() == Qt.Key.Key_Backtab or bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
                self.cycle_selection(-1 if back else 1)
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key, mods = event.key(), event.modifiers()
        step = 10.0 if mods & Qt.KeyboardModifier.ShiftModifier else 1.0
        arrows = {
            Qt.Key.Key_Left: (-step, 0.0), Qt.Key.Key_Right: (step, 0.0),
            Qt.Key.Key_Up: (0.0, -step), Qt.Key.Key_Down: (0.0, step),
        }
        if key in arrows and self._selected and not (mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)):
            self.nudge_selected(*arrows[key])
        elif key == Qt.Key.Key_Escape:
            self.cancel()
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selected()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.accept_selected()
        elif key == Qt.Key.Key_A and mods == Qt.KeyboardModifier.ControlModifier:
            self.select_all()
        elif key == Qt.Key.Key_Space and mods == Qt.KeyboardModifier.NoModifier:
            if self._space.press(event):  # the first press, not the key's auto-repeat
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat() and self._space.down:
            tap = self._space.release(event) and self._pan_last is None
            self.viewport().setCursor(Qt.CursorShape.CrossCursor if self._mode == "draw" else Qt.CursorShape.ArrowCursor)
            if tap:
                self.space_tapped.emit()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._space.reset()  # a release we never see must not leave pan armed
        super().focusOutEvent(event)
