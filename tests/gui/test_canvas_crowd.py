"""COCO crowd regions are drawn apart (hatched, "(crowd)") and never selected; a View toggle
hides them. PASCAL "difficult" boxes say so on their label."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from canvas_helpers import image_drag, mouse
from rnxstudio.core.model import Box, Category

pytestmark = pytest.mark.gui
CATS = {1: Category(1, "person", "#3cb44b")}


@pytest.fixture
def canvas(qtbot):
    from rnxstudio.ui.canvas import ImageCanvas

    c = ImageCanvas()
    qtbot.addWidget(c)
    c.resize(400, 300)
    c.show()
    c.set_image(np.zeros((120, 160, 3), np.uint8))
    c.set_boxes([Box(0, 0, 160, 120, 1, id=1, crowd=True), Box(20, 20, 60, 60, 1, id=2, difficult=True),
                 Box(100, 20, 140, 60, 1, id=3)], CATS)
    return c


def test_crowd_regions_are_drawn_apart_and_never_selected(canvas):
    assert canvas.box_label(1) == "person (crowd)" and canvas.box_label(2) == "person (difficult)"
    assert canvas.box_label(3) == "person"
    crowd, plain = canvas._items[1], canvas._items[3]
    assert crowd.brush().style() == Qt.BrushStyle.BDiagPattern and crowd.pen().style() == Qt.PenStyle.DotLine
    assert plain.brush().style() == Qt.BrushStyle.NoBrush
    mouse(canvas, "press", canvas.map_from_image(80, 100))  # inside the crowd region only
    mouse(canvas, "release", canvas.map_from_image(80, 100))
    assert canvas.selected_ids() == []
    canvas.select([1, 2])
    assert canvas.selected_ids() == [2]
    canvas.select_all()
    assert canvas.selected_ids() == [2, 3]
    edited = []
    canvas.box_edited.connect(lambda i, xyxy: edited.append(i))
    canvas.clear_selection()
    image_drag(canvas, (80, 100), (90, 110))  # a drag on the crowd region moves nothing
    assert edited == []


def test_view_toggle_hides_crowd_regions(canvas):
    assert canvas.is_box_visible(1)
    canvas.set_show_crowd(False)
    assert not canvas.is_box_visible(1) and canvas.is_box_visible(2)
    canvas.set_show_crowd(True)
    assert canvas.is_box_visible(1)


def test_the_window_has_the_toggle(window):
    act = window.actions_by_id["toggle_crowd"]
    assert act.isVisible() and act.isChecked()
    act.setChecked(False)
    act.setChecked(True)
