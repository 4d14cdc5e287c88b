"""Issue 15, item 7: the Objects dock lists the current image's boxes, follows the session and
the canvas selection, hides and locks boxes, rejects all predictions; copies end selected."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from canvas_helpers import image_drag
from rnxstudio.core.model import Box, BoxSource
from rnxstudio.data.demo import make_shapes_dataset
from rnxstudio.ui.objects_list import CLASS, LOCKED, SCORE, SHOWN, SOURCE
from window_helpers import open_with_classes

pytestmark = pytest.mark.gui


@pytest.fixture
def project(window, qtbot, tmp_path):
    make_shapes_dataset(3, (160, 120), seed=5, out_dir=tmp_path / "imgs")
    (tmp_path / "imgs" / "annotations.json").unlink()
    return open_with_classes(qtbot, window, tmp_path / "imgs")


def _rows(model):
    return [tuple(model.index(r, c).data() for c in (CLASS, SCORE, SOURCE)) for r in range(model.rowCount())]


def _draw(window, a, b):
    window.actions_by_id["draw_box"].trigger()
    image_drag(window.canvas, a, b)


def _predict(window, *boxes):
    session, image_id = window.controller.session, window.controller.current.id
    square = session.store.category_by_name("square").id
    session.set_predictions(image_id, [Box(*xyxy, category_id=square, image_id=image_id, source=BoxSource.PREDICTED,
                                           score=s) for xyxy, s in boxes], model_name="tiny")


def test_rows_follow_the_session_and_select_both_ways(window, qtbot, project):
    objects, cv = window.features.objects, window.canvas
    model = objects.model
    assert model.rowCount() == 0
    _draw(window, (10, 10), (150, 110))  # a big box …
    _draw(window, (40, 40), (60, 60))  # … and a small one inside it
    _predict(window, ((100, 10, 140, 50), 0.83))
    assert _rows(model) == [("circle", "", "drawn"), ("circle", "", "drawn"), ("square", "0.83", "prediction (tiny)")]
    window.actions_by_id["undo"].trigger()  # no refresh by hand: the list follows the session
    assert [r[0] for r in _rows(model)] == ["circle", "square"]
    window.actions_by_id["redo"].trigger()
    assert model.rowCount() == 3
    big, small = (b.id for b in project.boxes(window.controller.current.id) if b.source is BoxSource.MANUAL)
    # a click on the list selects the box on the canvas, even the one under the other
    objects.view.selectionModel().select(model.index(model.row_of(small), CLASS),
                                         objects.view.selectionModel().SelectionFlag.ClearAndSelect
                                         | objects.view.selectionModel().SelectionFlag.Rows)
    assert cv.selected_ids() == [small]
    cv.setFocus()
    qtbot.keyClick(cv, Qt.Key.Key_Right)  # and the keys act on it
    assert project.get_box(small).x1 == pytest.approx(41.0, abs=0.6)
    assert project.get_box(big).x1 == pytest.approx(10.0, abs=0.6)
    # the canvas selection shows in the list
    cv.select([big])
    assert [i.row() for i in objects.view.selectionModel().selectedRows()] == [model.row_of(big)]


def test_hide_and_lock(window, qtbot, project):
    objects, cv = window.features.objects, window.canvas
    model = objects.model
    _draw(window, (10, 10), (50, 50))
    (box,) = project.boxes(window.controller.current.id)
    row = model.row_of(box.id)
    assert model.index(row, SHOWN).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    model.setData(model.index(row, SHOWN), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert not cv.is_box_visible(box.id)
    model.setData(model.index(row, SHOWN), Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert cv.is_box_visible(box.id)
    model.setData(model.index(row, LOCKED), Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    cv.setFocus()
    cv.select([box.id])
    qtbot.keyClick(cv, Qt.Key.Key_Right)
    qtbot.keyClick(cv, Qt.Key.Key_Delete)
    image_drag(cv, (30, 30), (90, 90))  # a drag selects it but does not move it
    assert project.get_box(box.id).xyxy == pytest.approx((10, 10, 50, 50), abs=0.6)
    assert cv.selected_ids() == [box.id]


def test_reject_all_predictions_on_this_image(window, qtbot, project):
    objects = window.features.objects
    _draw(window, (10, 10), (50, 50))
    _predict(window, ((60, 10, 100, 50), 0.9), ((60, 60, 100, 100), 0.02))  # one under the slider
    image_id = window.controller.current.id
    objects.reject_button.click()
    assert [b.source for b in project.boxes(image_id)] == [BoxSource.MANUAL]
    assert objects.model.rowCount() == 1
    window.actions_by_id["undo"].trigger()
    assert sorted(b.score or 0 for b in project.boxes(image_id)) == pytest.approx([0, 0.02, 0.9])


def test_duplicated_and_pasted_boxes_end_selected_and_paste_drops_extra(window, qtbot, project):
    cv, session = window.canvas, window.controller.session
    image_id = window.controller.current.id
    circle = project.category_by_name("circle").id
    from rnxstudio.core.commands import AddBox

    add = AddBox(Box(10, 10, 50, 50, category_id=circle, image_id=image_id,
                     extra={"coco": {"id": 77, "segmentation": [[10, 10, 50, 10, 50, 50]]}}))
    assert session.push(add)
    cv.select([add.created.id])
    window.actions_by_id["duplicate_boxes"].trigger()
    (dup,) = [b for b in project.boxes(image_id) if b.id != add.created.id]
    assert cv.selected_ids() == [dup.id]
    assert dup.extra == {}
    cv.select([add.created.id])
    window.actions_by_id["copy_boxes"].trigger()
    window.actions_by_id["next_image"].trigger()
    qtbot.waitUntil(lambda: window.canvas.image_size() is not None and window.controller.current.id != image_id)
    window.actions_by_id["paste_boxes"].trigger()
    (pasted,) = project.boxes(window.controller.current.id)
    assert cv.selected_ids() == [pasted.id] and pasted.extra == {}
    rows = window.features.objects.view.selectionModel().selectedRows()
    assert [window.features.objects.model.box_id(i.row()) for i in rows] == [pasted.id]
