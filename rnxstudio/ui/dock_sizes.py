"""Docks keep sane widths: a dock that opens takes at most a share of the window, and a dock
that closes gives its width back to the image instead of leaving its neighbours stretched.

Qt sizes a dock area by the widest minimum of its docks and keeps that width when one closes;
the Inspector (its table and strips need ~1000 px) squeezed the canvas to ~140 px and, closed,
left the Classes dock ~940 px wide. Wide contents scroll inside their dock instead
(:func:`scrollable`).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QMainWindow, QScrollArea, QWidget

MIN_DOCK_W = 220
MAX_SHARE = 0.4
"""No side dock opens wider than this share of the window."""


def scrollable(widget: QWidget, parent: QWidget | None = None) -> QScrollArea:
    """``widget`` in a scroll area, so a dock holding it can be narrower than its minimum."""
    area = QScrollArea(parent)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(widget)
    return area


def sane_width(dock: QDockWidget, window_width: int) -> int:
    inner = dock.widget()
    hint = inner.sizeHint().width() if inner is not None else MIN_DOCK_W
    return int(min(max(hint, MIN_DOCK_W), max(MIN_DOCK_W, window_width * MAX_SHARE)))


class DockSizes(QObject):
    """Watches the side docks of ``window`` (call :meth:`watch` once they all exist)."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window

    def watch(self) -> None:
        for dock in self.window.findChildren(QDockWidget):
            dock.visibilityChanged.connect(lambda _v, d=dock: QTimer.singleShot(0, lambda: self.fit(d)))

    def fit(self, changed: QDockWidget | None = None) -> None:
        """Give every visible side dock (per area, the tabs of one stack count once) a sane width."""
        w = self.window
        areas: dict[Qt.DockWidgetArea, list[QDockWidget]] = {}
        for dock in w.findChildren(QDockWidget):
            area = w.dockWidgetArea(dock)
            if dock.isVisible() and not dock.isFloating() and area in (Qt.LeftDockWidgetArea, Qt.RightDockWidgetArea):
                areas.setdefault(area, []).append(dock)
        docks, widths = [], []
        for area_docks in areas.values():
            # the width an area wants: its widest *shown* dock (a hidden tab does not count)
            shown = [d for d in area_docks if not d.visibleRegion().isEmpty()] or area_docks
            width = max(sane_width(d, w.width()) for d in shown)
            docks += area_docks
            widths += [width] * len(area_docks)
        if docks:
            w.resizeDocks(docks, widths, Qt.Orientation.Horizontal)
