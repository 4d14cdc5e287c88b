"""Reject a prediction, pre-label again, Undo: the old prediction must not come back beside the
new model's boxes (on main before the session it did, without its model name — the same test,
written against that code's attribute names, failed there with `(1, None)` among the predictions).
And undo of an edit on another image, or of a class edit, brings what was undone on screen."""

from __future__ import annotations

import pytest

from canvas_helpers import image_drag
from waits import EVENT_MS, MODEL_MS
from rnxstudio.core.model import BoxSource
from rnxstudio.data.demo import make_shapes_dataset
from window_helpers import open_with_classes, wait_for_image

pytestmark = pytest.mark.gui


def _predicted(store, image_id):
    return store._q("SELECT id, model_name FROM boxes WHERE image_id = ? AND source = 'predicted' ORDER BY id",
                    (image_id,)).fetchall()


@pytest.fixture
def opened(window, qtbot, tmp_path):
    make_shapes_dataset(3, (160, 120), seed=5, out_dir=tmp_path / "imgs")
    (tmp_path / "imgs" / "annotations.json").unlink()
    return open_with_classes(qtbot, window, tmp_path / "imgs")


@pytest.mark.slow
def test_undo_of_a_reject_after_a_new_prelabel_does_not_resurrect_the_old_prediction(window, qtbot, opened):
    from rnxstudio.ui.models import ModelChoice

    store, pre = opened, window.features.prelabel
    image_id = window.controller.current.id
    pre.load(ModelChoice(zoo_name="resnext_tiny_fpn", pretrained_backbone=False))
    qtbot.waitUntil(lambda: pre.models.loaded, timeout=MODEL_MS)
    with qtbot.waitSignal(pre.result, timeout=EVENT_MS):
        assert pre.prelabel_current()
    first = _predicted(store, image_id)
    assert len(first) >= 2 and all(name == "resnext_tiny_fpn" for _, name in first)
    window.features.classes.panel.score.setValue(0)  # show every prediction, however low its score
    window.canvas.select([first[0][0]])
    window.actions_by_id["reject"].trigger()
    assert [r[0] for r in _predicted(store, image_id)] == [r[0] for r in first[1:]]
    with qtbot.waitSignal(pre.result, timeout=EVENT_MS):
        assert pre.prelabel_current()  # the model's new opinion replaces all its old boxes
    second = _predicted(store, image_id)
    assert second and not {r[0] for r in second} & {r[0] for r in first}
    window.actions_by_id["undo"].trigger()
    assert _predicted(store, image_id) == second
    assert sorted(b.id for b in window.canvas.boxes() if b.source is BoxSource.PREDICTED) == [r[0] for r in second]


def test_undo_of_an_edit_on_another_image_shows_that_image(window, qtbot, opened):
    store = opened
    first = window.controller.current.id
    window.actions_by_id["draw_box"].trigger()
    image_drag(window.canvas, (10, 10), (60, 50))
    (box,) = store.boxes(first)
    window.controller.step(+1)
    wait_for_image(qtbot, window)
    assert window.controller.current.id != first
    with qtbot.waitSignal(window.controller.image_ready, timeout=EVENT_MS,
                          check_params_cb=lambda rec, _r, _e: rec.id == first):
        window.actions_by_id["undo"].trigger()
    assert window.controller.current.id == first and store.boxes(first) == []
    assert window.canvas.boxes() == []
    window.actions_by_id["redo"].trigger()
    assert [b.id for b in window.canvas.boxes()] == [box.id]  # the view follows without a reload call


def test_class_edits_are_undoable_from_the_window(window, qtbot, opened):
    store, classes = opened, window.features.classes
    cats = {c.name: c.id for c in store.categories()}
    window.actions_by_id["draw_box"].trigger()
    image_drag(window.canvas, (10, 10), (60, 50))
    first = window.controller.current.id
    bird = classes.add("bird")
    assert bird is not None and [c.name for c in classes.categories()] == ["circle", "square", "bird"]
    assert classes.current_id() == bird.id
    assert classes.rename(bird.id, "sparrow") and [c.name for c in classes.categories()][-1] == "sparrow"
    assert classes.merge(cats["circle"], cats["square"])
    assert [c.name for c in classes.categories()] == ["square", "sparrow"]
    assert [b.category_id for b in window.canvas.boxes()] == [cats["square"]]  # the canvas followed
    assert window.class_filter.findText("circle") == -1  # so did the list's class filter
    assert classes.delete(cats["square"]) and window.canvas.boxes() == [] and store.boxes(first) == []
    window.controller.step(+1)
    wait_for_image(qtbot, window)
    window.actions_by_id["undo"].trigger()  # the delete: the box comes back, on screen
    assert window.controller.current.id == first
    assert [b.category_id for b in window.canvas.boxes()] == [cats["square"]]
    for _ in range(3):  # merge, rename, add
        window.actions_by_id["undo"].trigger()
    assert [c.name for c in classes.categories()] == ["circle", "square"]
    assert [b.category_id for b in window.canvas.boxes()] == [cats["circle"]]
    assert window.actions_by_id["undo"].text().endswith("Add box")


def test_class_panel_buttons_ask_then_edit_undoably(window, qtbot, opened, monkeypatch):
    from PySide6.QtWidgets import QDialog, QInputDialog, QMessageBox

    from rnxstudio.ui import class_panel

    store, panel = opened, window.features.classes.panel
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("bird", True))
    panel.add_button.click()
    assert [c.name for c in store.categories()] == ["circle", "square", "bird"]
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("sparrow", True))
    panel.rename_button.click()  # the new class is the selected one
    assert store.categories()[-1].name == "sparrow"
    monkeypatch.setattr(class_panel.ClassPicker, "exec", lambda self: QDialog.Accepted)
    panel.merge_button.click()  # into the first class the picker offers
    assert [c.name for c in store.categories()] == ["circle", "square"]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    panel.delete_button.click()
    assert len(store.categories()) == 1
    for _ in range(4):
        window.actions_by_id["undo"].trigger()
    assert [c.name for c in store.categories()] == ["circle", "square"]
