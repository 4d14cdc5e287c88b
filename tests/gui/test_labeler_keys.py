"""Issue 15, items 5, 6 and 11: keys never surprise.

Space: a tap verifies (from the canvas or the image list), a hold does nothing by itself, a hold
with a drag on the canvas pans. 1–9 relabel the selected boxes. A box drawn in a project
without classes asks for its class. F1 lists every key, generated from the action table.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication

from canvas_helpers import drag, image_drag
from rnxstudio.core.model import BoxSource, ImageStatus
from rnxstudio.data.demo import make_shapes_dataset
from window_helpers import open_with_classes, wait_for_image

pytestmark = pytest.mark.gui


@pytest.fixture
def project(window, qtbot, tmp_path):
    make_shapes_dataset(4, (160, 120), seed=5, out_dir=tmp_path / "imgs")
    (tmp_path / "imgs" / "annotations.json").unlink()
    return open_with_classes(qtbot, window, tmp_path / "imgs", names=("circle", "square", "triangle"))


def _space(widget, kind: str, *, repeat: bool = False, timestamp: int = 0) -> None:
    """A Space event as the platform sends it (auto-repeat while held, event timestamps)."""
    et = QEvent.Type.KeyPress if kind == "press" else QEvent.Type.KeyRelease
    ev = QKeyEvent(et, Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier, " ", repeat, 1)
    if timestamp:
        ev.setTimestamp(timestamp)
    QApplication.sendEvent(widget, ev)


def _statuses(store):
    return [store.image(i).status for i in store.image_ids()]


def test_space_held_in_the_image_list_does_not_verify_a_tap_does(window, qtbot, project):
    store, view = project, window.file_view
    first = window.controller.current.id
    view.setFocus()
    # hold: the press goes through the window's shortcuts like a real one, then the key repeats
    qtbot.keyPress(view, Qt.Key.Key_Space)
    for _ in range(5):
        _space(view, "press", repeat=True)
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    assert ImageStatus.VERIFIED not in _statuses(store)
    assert window.controller.current.id == first
    # a tap verifies this image and moves on, once
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert store.image(first).status is ImageStatus.VERIFIED
    assert _statuses(store).count(ImageStatus.VERIFIED) == 1
    assert window.controller.current.id != first


def test_space_on_the_canvas_tap_verifies_hold_does_nothing_drag_pans(window, qtbot, project):
    store, cv = project, window.canvas
    first = window.controller.current.id
    cv.setFocus()
    cv.set_zoom(12.0)  # larger than the view: there is something to pan
    # held without a drag: nothing happens
    _space(cv, "press")
    _space(cv, "press", repeat=True)
    _space(cv, "release")
    # a long press without auto-repeat (by the events' timestamps) is a hold too
    _space(cv, "press", timestamp=10_000)
    _space(cv, "release", timestamp=11_500)
    assert ImageStatus.VERIFIED not in _statuses(store) and window.controller.current.id == first
    # held with a drag: pans, and does not verify
    before = cv.map_to_image(QPointF(100, 100))
    _space(cv, "press")
    drag(cv, QPointF(150, 100), QPointF(200, 150))
    _space(cv, "release")
    assert cv.map_to_image(QPointF(100, 100)).x() != pytest.approx(before.x(), abs=1.0)
    assert ImageStatus.VERIFIED not in _statuses(store)
    # a tap verifies and goes on
    qtbot.keyClick(cv, Qt.Key.Key_Space)
    assert store.image(first).status is ImageStatus.VERIFIED
    assert window.controller.current.id != first


def test_space_is_no_window_shortcut_so_text_fields_type_it(window, qtbot, project):
    window.search.setFocus()
    qtbot.keyClicks(window.search, "a b")
    assert window.search.text() == "a b"
    assert ImageStatus.VERIFIED not in _statuses(project)


def test_number_keys_relabel_the_selected_boxes_undoably(window, qtbot, project):
    store, cv = project, window.canvas
    image_id = window.controller.current.id
    window.actions_by_id["draw_box"].trigger()
    image_drag(cv, (10, 20), (60, 70))
    window.actions_by_id["draw_box"].trigger()
    image_drag(cv, (80, 20), (120, 70))
    circle, square, triangle = (store.category_by_name(n).id for n in ("circle", "square", "triangle"))
    assert {b.category_id for b in store.boxes(image_id)} == {circle}
    cv.setFocus()
    cv.select_all()
    qtbot.keyClick(cv, Qt.Key.Key_3)
    assert {b.category_id for b in store.boxes(image_id)} == {triangle}
    assert cv.selected_ids() == [b.id for b in store.boxes(image_id)]  # still selected
    window.actions_by_id["undo"].trigger()  # one step for both boxes
    assert {b.category_id for b in store.boxes(image_id)} == {circle}
    # with nothing selected, a number picks the class of the next box
    cv.clear_selection()
    qtbot.keyClick(cv, Qt.Key.Key_2)
    assert window.features.classes.current_id() == square
    assert {b.category_id for b in store.boxes(image_id)} == {circle}


def test_a_box_drawn_without_classes_asks_for_its_class(window, qtbot, tmp_path, monkeypatch):
    make_shapes_dataset(2, (160, 120), seed=5, out_dir=tmp_path / "imgs")
    (tmp_path / "imgs" / "annotations.json").unlink()
    assert window.open_path(tmp_path / "imgs")
    wait_for_image(qtbot, window)
    store, cv = window.controller.store, window.canvas
    assert store.categories() == []
    editing = window.features.editing
    monkeypatch.setattr(editing, "ask_class_name", lambda: None)  # cancelled: nothing is added
    window.actions_by_id["draw_box"].trigger()
    image_drag(cv, (10, 20), (60, 70))
    assert store.boxes(window.controller.current.id) == []
    monkeypatch.setattr(editing, "ask_class_name", lambda: "dog")
    window.actions_by_id["draw_box"].trigger()
    image_drag(cv, (10, 20), (60, 70))
    (box,) = store.boxes(window.controller.current.id)
    assert [c.name for c in store.categories()] == ["dog"]
    assert box.category_id == store.category_by_name("dog").id and box.source is BoxSource.MANUAL
    assert window.features.classes.current_id() == box.category_id  # the next box is a dog too


def test_f1_lists_every_key_in_menu_order(window, qtbot):
    from rnxstudio.ui.actions import MENUS
    from rnxstudio.ui.dialogs import show_shortcuts

    dlg = show_shortcuts(window)
    qtbot.addWidget(dlg)
    t = dlg.table
    rows = [tuple(t.item(r, c).text() for c in range(3)) for r in range(t.rowCount())]
    menus = [r[0] for r in rows]
    assert menus == sorted(menus, key=MENUS.index), "rows are not in menu order"
    keys = " | ".join(r[2] for r in rows)
    for must in ("1, 2, 3, 4, 5, 6, 7, 8, 9", "Left", "Shift+Arrow", "Esc", "Space + drag", "Space (tap)", "F1"):
        assert must in keys, f"F1 does not list {must}"
    # every shown menu entry is in the list, with its menu's order
    shown = [a for a in window.actions_by_id.values() if a.isVisible() and a.shortcuts()]
    texts = {r[1] for r in rows}
    for act in shown:
        assert act.text().replace("&", "").rstrip("…") in texts or act.objectName() in ("undo", "redo")
    assert not t.isSortingEnabled()  # a click on a header must not lose the menus' order


def test_every_listed_canvas_key_does_what_f1_says(window, qtbot, project):
    """The key-only rows are bound by the widgets; this keeps the two from drifting apart."""
    from rnxstudio.ui.actions import spec

    store, cv = project, window.canvas
    image_id = window.controller.current.id
    window.actions_by_id["draw_box"].trigger()
    image_drag(cv, (10, 20), (60, 70))
    (box,) = store.boxes(image_id)
    cv.setFocus()
    cv.select([box.id])
    moves = {"Left": (-1, 0), "Right": (1, 0), "Up": (0, -1), "Down": (0, 1)}
    for key in spec("nudge").keys:
        if key not in moves:
            continue
        before = store.get_box(box.id)
        qtbot.keyClick(cv, getattr(Qt.Key, f"Key_{key}"))
        after = store.get_box(box.id)
        assert (after.x1 - before.x1, after.y1 - before.y1) == pytest.approx(moves[key])
    qtbot.keyClick(cv, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert store.get_box(box.id).x1 == pytest.approx(20.0, abs=0.6)
    assert spec("escape").keys == ("Esc",)
    qtbot.keyClick(cv, Qt.Key.Key_Escape)
    assert cv.selected_ids() == []
    assert spec("class_keys").keys == tuple("123456789")
