"""ImageCanvas: drawing, moving, resizing, keys, selection, filters, zoom and error display."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from canvas_helpers import image_drag, mouse
from rnxstudio.core.model import Box, BoxSource, Category

pytestmark = pytest.mark.gui

CATS = {1: Category(1, "circle", "#e6194b"), 2: Category(2, "square", "#3cb44b")}
W, H = 160, 120


@pytest.fixture
def canvas(qtbot):
    from rnxstudio.ui.canvas import ImageCanvas

    c = ImageCanvas()
    qtbot.addWidget(c)
    c.resize(420, 320)
    c.show()
    qtbot.waitExposed(c)
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:, :, 1] = np.arange(W, dtype=np.uint8)[None, :]
    c.set_image(rgb)
    c.set_zoom(2.0)  # a non-1, non-fit zoom so scene <-> image mapping is exercised
    c.setFocus()
    return c


def spy(signal):
    got = []
    signal.connect(lambda *a: got.append(a))
    return got


def boxes3():
    return [
        Box(20, 20, 60, 60, 1, id=7),
        Box(80, 30, 120, 90, 2, id=8, source=BoxSource.PREDICTED, score=0.9),
        Box(100, 10, 150, 40, 1, id=9, source=BoxSource.PREDICTED, score=0.3),
    ]


def approx_box(got, want, tol):
    assert len(got) == 4
    for g, w in zip(got, want):
        assert abs(g - w) <= tol, (got, want)


def test_mapping_at_zoom_two_is_exact(canvas):
    assert canvas.zoom() == pytest.approx(2.0)
    p = canvas.map_from_image(33.25, 47.5)
    back = canvas.map_to_image(p)
    assert (back.x(), back.y()) == pytest.approx((33.25, 47.5))
    a, b = canvas.map_from_image(0, 0), canvas.map_from_image(10, 0)
    assert b.x() - a.x() == pytest.approx(20.0)


def test_draw_emits_image_coordinates_and_returns_to_select(canvas):
    drawn, modes = spy(canvas.box_drawn), spy(canvas.mode_changed)
    canvas.set_mode("draw")
    assert canvas._tools["draw"].guides_visible() is False
    image_drag(canvas, (10.0, 20.0), (50.0, 60.0))
    assert len(drawn) == 1
    approx_box(drawn[0][0], (10, 20, 50, 60), tol=0.5 / canvas.zoom() + 1e-6)
    assert [m[0] for m in modes] == ["draw", "select"]


def test_draw_right_to_left_and_outside_is_normalised_and_clipped(canvas):
    drawn = spy(canvas.box_drawn)
    canvas.continuous_draw = True
    canvas.set_mode("draw")
    image_drag(canvas, (100.0, 100.0), (W + 30.0, -20.0))
    assert len(drawn) == 1
    x1, y1, x2, y2 = drawn[0][0]
    assert (x2, y1) == (W, 0.0)
    assert x1 == pytest.approx(100.0, abs=0.3) and y2 == pytest.approx(100.0, abs=0.3)
    assert canvas.mode == "draw"  # continuous drawing keeps the tool


def test_draw_shows_guides_and_escape_cancels(canvas, qtbot):
    drawn = spy(canvas.box_drawn)
    canvas.set_mode("draw")
    image_drag(canvas, (10.0, 10.0), (40.0, 40.0), release=False)
    assert canvas._tools["draw"].guides_visible()
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    mouse(canvas, "release", canvas.map_from_image(40.0, 40.0))
    assert drawn == []
    assert canvas.mode == "draw"  # first Escape cancels the box only
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert canvas.mode == "select"
    assert not canvas._tools["draw"].guides_visible()


def test_click_in_draw_mode_creates_nothing(canvas):
    drawn = spy(canvas.box_drawn)
    canvas.set_mode("draw")
    image_drag(canvas, (30.0, 30.0), (30.2, 30.2), steps=1)
    assert drawn == []


def test_drag_moves_box_and_emits_once_at_end(canvas):
    canvas.set_boxes(boxes3(), CATS)
    edited, sel = spy(canvas.box_edited), spy(canvas.selection_changed)
    image_drag(canvas, (40.0, 40.0), (50.0, 45.0), steps=6, release=False)
    assert edited == []  # nothing until the mouse is released
    approx_box(canvas.box_xyxy(7), (30, 25, 70, 65), tol=0.26)  # live preview
    mouse(canvas, "release", canvas.map_from_image(50.0, 45.0))
    assert len(edited) == 1 and edited[0][0] == 7
    approx_box(edited[0][1], (30, 25, 70, 65), tol=0.26)
    assert sel[0] == ([7],)


def test_move_is_clipped_without_changing_size(canvas):
    canvas.set_boxes(boxes3(), CATS)
    edited = spy(canvas.box_edited)
    image_drag(canvas, (40.0, 40.0), (0.0, 0.0))
    assert edited[0][1] == (0.0, 0.0, 40.0, 40.0)


def test_small_jitter_is_a_click_not_a_move(canvas):
    canvas.set_boxes(boxes3(), CATS)
    edited = spy(canvas.box_edited)
    image_drag(canvas, (40.0, 40.0), (40.5, 40.5), steps=1)
    assert edited == [] and canvas.selected_ids() == [7]


def test_resize_by_corner_and_edge_handles(canvas):
    canvas.set_boxes(boxes3(), CATS)
    canvas.select([7])
    edited = spy(canvas.box_edited)
    image_drag(canvas, (60.0, 60.0), (70.0, 75.0))  # bottom-right handle
    approx_box(edited[-1][1], (20, 20, 70, 75), tol=0.26)
    canvas.set_boxes([Box(*edited[-1][1], 1, id=7)], CATS)
    image_drag(canvas, (20.0, 47.5), (5.0, 47.5))  # left edge handle: x1 only
    x1, y1, x2, y2 = edited[-1][1]
    assert x1 == pytest.approx(5.0, abs=0.26) and (y1, x2, y2) == pytest.approx((20, 70, 75), abs=0.26)


def test_resize_cannot_cross_or_leave_the_image(canvas):
    canvas.set_boxes(boxes3(), CATS)
    canvas.select([7])
    edited = spy(canvas.box_edited)
    image_drag(canvas, (60.0, 60.0), (0.0, -50.0))  # past the opposite corner and the top
    assert edited[-1][1] == (20.0, 20.0, 21.0, 21.0)  # min size 1 px, never flipped
    canvas.set_boxes([Box(20, 20, 60, 60, 1, id=7)], CATS)
    image_drag(canvas, (60.0, 60.0), (W + 40.0, H + 40.0))
    assert edited[-1][1] == (20.0, 20.0, float(W), float(H))


def test_arrow_keys_nudge_with_shift_for_ten(canvas, qtbot):
    canvas.set_boxes(boxes3(), CATS)
    canvas.select([7])
    edited = spy(canvas.box_edited)
    qtbot.keyClick(canvas, Qt.Key.Key_Right)
    qtbot.keyClick(canvas, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(canvas, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert [e[1] for e in edited] == [(21.0, 20.0, 61.0, 60.0), (21.0, 30.0, 61.0, 70.0), (11.0, 30.0, 51.0, 70.0)]
    for _ in range(5):
        qtbot.keyClick(canvas, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert edited[-1][1] == (0.0, 30.0, 40.0, 70.0)  # stops at the image edge
    assert len(edited) == 5  # 11 -> 1 -> 0, then presses that cannot move emit nothing


def test_tab_cycles_visible_boxes_and_shift_tab_goes_back(canvas, qtbot):
    canvas.set_boxes(boxes3(), CATS)
    seen = []
    for _ in range(4):
        qtbot.keyClick(canvas, Qt.Key.Key_Tab)
        seen.append(canvas.selected_ids())
    assert seen == [[7], [8], [9], [7]]
    qtbot.keyClick(canvas, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert canvas.selected_ids() == [9]
    canvas.set_min_score(0.5)  # hides box 9 -> it leaves the cycle and the selection
    assert canvas.selected_ids() == []
    qtbot.keyClick(canvas, Qt.Key.Key_Tab)
    qtbot.keyClick(canvas, Qt.Key.Key_Tab)
    qtbot.keyClick(canvas, Qt.Key.Key_Tab)
    assert canvas.selected_ids() == [7]


def test_click_ctrl_click_select_all_and_empty_click(canvas, qtbot):
    canvas.set_boxes(boxes3(), CATS)
    mouse(canvas, "press", canvas.map_from_image(100.0, 60.0))
    mouse(canvas, "release", canvas.map_from_image(100.0, 60.0))
    assert canvas.selected_ids() == [8]
    ctrl = Qt.KeyboardModifier.ControlModifier
    mouse(canvas, "press", canvas.map_from_image(30.0, 30.0), mods=ctrl)
    mouse(canvas, "release", canvas.map_from_image(30.0, 30.0), mods=ctrl)
    assert canvas.selected_ids() == [8, 7]
    mouse(canvas, "press", canvas.map_from_image(5.0, 100.0))
    assert canvas.selected_ids() == []
    qtbot.keyClick(canvas, Qt.Key.Key_A, ctrl)
    assert canvas.selected_ids() == [7, 8, 9]


def test_nested_boxes_pick_the_smallest(canvas):
    canvas.set_boxes([Box(10, 10, 150, 110, 1, id=1), Box(40, 40, 60, 60, 2, id=2)], CATS)
    mouse(canvas, "press", canvas.map_from_image(50.0, 50.0))
    assert canvas.selected_ids() == [2]


def test_delete_and_accept_requests(canvas, qtbot):
    canvas.set_boxes(boxes3(), CATS)
    deleted, accepted, classes = spy(canvas.delete_requested), spy(canvas.accept_requested), spy(canvas.edit_class_requested)
    canvas.select([7, 8])
    qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert deleted == [([7, 8],)]
    assert accepted == [([8],)]  # only predictions are accepted
    canvas.select([7])
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert classes == [([7],)]


def test_filters_predictions_score_class_and_opacity(canvas):
    canvas.set_boxes(boxes3(), CATS)
    canvas.select([9])
    canvas.set_min_score(0.5)
    assert canvas.visible_ids() == [7, 8] and canvas.selected_ids() == []
    canvas.set_show_predictions(False)
    assert canvas.visible_ids() == [7]
    canvas.set_show_predictions(True)
    canvas.set_min_score(0.0)
    canvas.set_class_filter(2)
    assert canvas.visible_ids() == [8]
    canvas.set_class_filter(None)
    canvas.set_opacity(0.4)
    assert all(canvas._items[i].opacity() == pytest.approx(0.4) for i in (7, 8, 9))
    canvas.select([9, 8])
    assert canvas.selected_ids() == [9, 8]
    canvas.set_show_predictions(False)
    assert canvas.selected_ids() == []


def test_labels_style_and_item_reuse(canvas):
    canvas.set_boxes(boxes3(), CATS)
    assert canvas.box_label(7) == "circle"
    assert canvas.box_label(8) == "square 0.90"
    item = canvas._items[8]
    assert item.pen().style() == Qt.PenStyle.DashLine
    assert canvas._items[7].pen().style() == Qt.PenStyle.SolidLine
    moved = [b if b.id != 8 else Box(81, 30, 120, 90, 2, id=8, source=BoxSource.ACCEPTED) for b in boxes3()]
    canvas.set_boxes(moved, CATS)
    assert canvas._items[8] is item  # reused, not rebuilt
    assert item.pen().style() == Qt.PenStyle.SolidLine and canvas.box_label(8) == "square"
    canvas.set_boxes(moved[:1], CATS)
    assert sorted(canvas._items) == [7] and item.scene() is None
    with pytest.raises(ValueError, match="unique"):
        canvas.set_boxes([Box(1, 1, 5, 5, 1, id=3), Box(2, 2, 6, 6, 1, id=3)], CATS)


def test_selected_box_shows_eight_handles(canvas):
    canvas.set_boxes(boxes3(), CATS)
    item = canvas._items[7]
    assert not any(h.isVisible() for h in item._handles.values())
    canvas.select([7])
    assert len(item._handles) == 8 and all(h.isVisible() for h in item._handles.values())
    corners = {n: (h.scenePos().x(), h.scenePos().y()) for n, h in item._handles.items()}
    assert corners["tl"] == (20, 20) and corners["br"] == (60, 60) and corners["t"] == (40, 20)
    canvas.select([8])
    assert not any(h.isVisible() for h in item._handles.values())


def test_wheel_zooms_at_the_cursor(canvas, qtbot):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    canvas.set_zoom(4.0)  # the image overflows the view, so the anchor can be honoured
    zooms = spy(canvas.zoom_changed)
    anchor = canvas.map_from_image(100.0, 80.0)
    ev = QWheelEvent(anchor, QPointF(canvas.viewport().mapToGlobal(anchor.toPoint())), QPoint(0, 0),
                     QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                     Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), ev)
    assert canvas.zoom() == pytest.approx(5.0)
    assert zooms and zooms[-1][0] == pytest.approx(5.0)
    after = canvas.map_to_image(anchor)
    assert (after.x(), after.y()) == pytest.approx((100.0, 80.0), abs=1.0 / canvas.zoom())


def test_zoom_commands_fit_and_100(canvas):
    canvas.zoom_100()
    assert canvas.zoom() == 1.0
    canvas.zoom_in()
    assert canvas.zoom() == pytest.approx(1.25)
    canvas.zoom_out()
    canvas.zoom_out()
    assert canvas.zoom() == pytest.approx(0.8)
    canvas.fit()
    vp = canvas.viewport().rect()
    assert canvas.zoom() == pytest.approx(min((vp.width() - 4) / W, (vp.height() - 4) / H))


def test_large_image_uses_a_downscaled_level_when_zoomed_out(qtbot):
    from rnxstudio.ui.canvas import ImageCanvas

    c = ImageCanvas()
    qtbot.addWidget(c)
    c.resize(400, 300)
    c.show()
    big = np.full((3000, 4000, 3), 128, np.uint8)
    c.set_image(big)
    assert c.zoom() < 0.1 and c.displayed_level() >= 8
    assert c._pixmap_item.sceneBoundingRect().width() == pytest.approx(4000.0)
    c.zoom_100()
    assert c.displayed_level() == 1


def test_middle_button_and_space_drag_pan(canvas, qtbot):
    from canvas_helpers import drag

    canvas.set_zoom(6.0)
    canvas.set_boxes(boxes3(), CATS)
    edited, taps = spy(canvas.box_edited), spy(canvas.space_tapped)
    before = canvas.map_to_image(QPointF(100, 100))
    drag(canvas, QPointF(200, 150), QPointF(150, 100), button=Qt.MouseButton.MiddleButton)
    after = canvas.map_to_image(QPointF(100, 100))
    assert after.x() - before.x() == pytest.approx(50 / 6.0, abs=0.5)
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    drag(canvas, QPointF(150, 100), QPointF(200, 150))
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert edited == [] and taps == []
    back = canvas.map_to_image(QPointF(100, 100))
    assert back.x() == pytest.approx(before.x(), abs=0.5)
    qtbot.keyClick(canvas, Qt.Key.Key_Space)
    assert len(taps) == 1


def test_cursor_moved_reports_image_pixels(canvas):
    got = spy(canvas.cursor_moved)
    mouse(canvas, "move", canvas.map_from_image(12.5, 99.0))
    assert got[-1] == pytest.approx((12.5, 99.0))


def test_error_is_shown_in_place_and_clears_boxes(canvas):
    canvas.set_boxes(boxes3(), CATS)
    canvas.set_image(None, error="cannot read x.png: not an image file")
    assert canvas.error_text() == "cannot read x.png: not an image file"
    assert canvas._error_item.isVisible()
    assert "not an image file" in canvas._error_item.toPlainText()
    assert canvas.boxes() == [] and canvas.image_size() is None
    canvas.set_mode("draw")
    image_drag(canvas, (1.0, 1.0), (30.0, 30.0))  # nothing to draw on: no crash, no box
    canvas.set_image(np.zeros((10, 20, 3), np.uint8))
    assert canvas.error_text() is None and not canvas._error_item.isVisible()
    assert canvas.image_size() == (20, 10)


def test_set_image_rejects_bad_arrays(canvas):
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        canvas.set_image(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        canvas.set_image(np.zeros((10, 10, 3), np.float32))


def test_unknown_mode_is_refused(canvas):
    with pytest.raises(ValueError, match="unknown canvas mode"):
        canvas.set_mode("polygon")


def test_label_hangs_inside_a_box_at_the_top_edge(canvas):
    canvas.set_boxes([Box(10, 0, 60, 40, 1, id=1), Box(10, 60, 60, 100, 1, id=2)], CATS)
    top, lower = canvas._items[1]._label, canvas._items[2]._label
    assert top.boundingRect().top() >= 0.0  # inside the box, still on the image
    assert lower.boundingRect().bottom() <= 0.0  # above the box as usual
    canvas.set_boxes([Box(10, 0, 60, 40, 1, id=1, source=BoxSource.PREDICTED, score=0.5),
                      Box(10, 60, 60, 100, 1, id=2)], CATS)
    assert top.boundingRect().top() >= 0.0  # a new text keeps the placement


def test_boxes_replaced_during_a_drag_keep_the_preview(canvas):
    canvas.set_boxes(boxes3(), CATS)
    edited = spy(canvas.box_edited)
    image_drag(canvas, (40.0, 40.0), (50.0, 40.0), release=False)
    canvas.set_boxes(boxes3(), CATS)  # e.g. a prediction arrived mid-drag
    approx_box(canvas.box_xyxy(7), (30, 20, 70, 60), tol=0.26)
    canvas.set_boxes(boxes3()[1:], CATS)  # the dragged box vanished: the drag is dropped
    mouse(canvas, "release", canvas.map_from_image(50.0, 40.0))
    assert edited == []


def test_set_image_refuses_other_threads(canvas):
    import threading

    errors = []

    def worker():
        try:
            canvas.set_image(np.zeros((4, 4, 3), np.uint8))
        except RuntimeError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert errors and "GUI thread" in errors[0]
