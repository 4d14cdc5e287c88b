"""Synthetic mouse/key input for canvas tests (offscreen Qt)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

_TYPES = {
    "press": QEvent.Type.MouseButtonPress,
    "move": QEvent.Type.MouseMove,
    "release": QEvent.Type.MouseButtonRelease,
    "double": QEvent.Type.MouseButtonDblClick,
}


def mouse(canvas, kind: str, pos: QPointF, button=Qt.MouseButton.LeftButton,
          mods=Qt.KeyboardModifier.NoModifier, held=Qt.MouseButton.NoButton) -> None:
    """Send one mouse event at viewport position ``pos`` (floats kept)."""
    vp = canvas.viewport()
    posf = QPointF(pos)
    glob = QPointF(vp.mapToGlobal(posf.toPoint()))
    if kind == "move":
        ev = QMouseEvent(_TYPES[kind], posf, glob, Qt.MouseButton.NoButton, held, mods)
    elif kind == "release":
        ev = QMouseEvent(_TYPES[kind], posf, glob, button, Qt.MouseButton.NoButton, mods)
    else:
        ev = QMouseEvent(_TYPES[kind], posf, glob, button, button, mods)
    QApplication.sendEvent(vp, ev)


def drag(canvas, start: QPointF, end: QPointF, *, steps: int = 4, button=Qt.MouseButton.LeftButton,
         mods=Qt.KeyboardModifier.NoModifier, release: bool = True) -> None:
    """Press at ``start``, move in ``steps`` to ``end``, release (unless told not to)."""
    mouse(canvas, "press", start, button, mods)
    for i in range(1, steps + 1):
        t = i / steps
        p = QPointF(start.x() + (end.x() - start.x()) * t, start.y() + (end.y() - start.y()) * t)
        mouse(canvas, "move", p, button, mods, held=button)
    if release:
        mouse(canvas, "release", end, button, mods)


def image_drag(canvas, a: tuple[float, float], b: tuple[float, float], **kw) -> None:
    """Drag between two *image* points."""
    drag(canvas, canvas.map_from_image(*a), canvas.map_from_image(*b), **kw)
