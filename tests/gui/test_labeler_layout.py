"""Issue 15, item 8: docks keep sane widths; closing one gives the room back to the image."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from waits import EVENT_MS

pytestmark = pytest.mark.gui

W, H = 1400, 900


def _right_width(window) -> int:
    docks = [d for d in window.findChildren(type(window.features.classes.dock))
             if d.isVisible() and window.dockWidgetArea(d) == Qt.RightDockWidgetArea]
    return max(d.width() for d in docks)


def test_inspector_dock_leaves_the_canvas_room_and_gives_it_back(window, qtbot):
    window.resize(W, H)
    qtbot.waitUntil(lambda: window.width() == W, timeout=EVENT_MS)
    start = window.canvas.width()
    assert start > W // 3
    toggle = window.actions_by_id["toggle_inspector"]
    toggle.setChecked(True)
    qtbot.waitUntil(lambda: window.features.inspector.panel is not None, timeout=EVENT_MS)
    # the panel's tables want ~1000 px: they scroll in a dock of at most 40 % of the window
    qtbot.waitUntil(lambda: window.canvas.width() >= W // 3, timeout=EVENT_MS)
    assert _right_width(window) <= 0.4 * W + 10
    toggle.setChecked(False)
    qtbot.waitUntil(lambda: abs(window.canvas.width() - start) <= 10, timeout=EVENT_MS)
    assert _right_width(window) <= 0.3 * W
