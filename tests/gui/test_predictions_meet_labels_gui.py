"""Issue 15, items 1, 3, 4 and 16 in the window: Space on an image with predictions showing
keeps them (or asks, when the setting is off); a model with other classes than the project's
goes through the class-mapping step before anything is stored, and the project gets no class
it did not ask for; the export summary says how many unreadable images were left out and the
COCO export writes provenance when asked. The model's output is handed in as the plain
``Detections`` the inference lane produces (the real path from there on)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnxstudio.core.model import BoxSource, ImageStatus
from rnxstudio.data.demo import make_shapes_dataset
from waits import EVENT_MS
from window_helpers import open_with_classes

pytestmark = pytest.mark.gui

DEMO_CLASSES = ["circle", "square", "triangle", "star", "ring"]


@pytest.fixture
def opened(window, qtbot, tmp_path):
    make_shapes_dataset(3, (160, 120), seed=5, out_dir=tmp_path / "imgs")
    (tmp_path / "imgs" / "annotations.json").unlink()
    return open_with_classes(qtbot, window, tmp_path / "imgs", names=("cat", "dog"))


def detections(names, labels, scores):
    from rnxstudio.ml.predict import Detections

    boxes = np.array([[10 + 30 * k, 10, 35 + 30 * k, 40] for k in range(len(labels))], np.float32)
    return Detections(boxes, np.array(scores, np.float32), np.array(labels), list(names), (160, 120))


def predictions(store, image_id):
    return [b for b in store.boxes(image_id) if b.source is BoxSource.PREDICTED]


def test_space_with_predictions_showing_accepts_them(window, qtbot, opened):
    store, session = opened, window.controller.session
    image_id = window.controller.current.id
    cat = store.category_by_name("cat").id
    session.set_predictions(image_id, detections(["cat"], [1, 1, 1], [0.9, 0.7, 0.2]).to_boxes([cat], image_id),
                            model_name="m")
    window.features.classes.panel.score.setValue(50)  # the slider: 0.5
    qtbot.waitUntil(lambda: len([b for b in window.canvas.boxes() if b.source is BoxSource.PREDICTED]) == 3,
                    timeout=EVENT_MS)
    window.actions_by_id["verify_next"].trigger()  # Space
    assert store.image(image_id).status is ImageStatus.VERIFIED
    assert store.to_labelset(verified_only=True).num_boxes == 2  # what a verified-only export trains on
    kept = store.boxes(image_id, include_predictions=False)
    assert sorted(b.score for b in kept) == pytest.approx([0.7, 0.9]) and {b.provenance for b in kept} == {"accepted"}
    assert window.actions_by_id["verify_accepts"].isChecked()  # the default


def test_with_the_setting_off_space_asks_once(window, qtbot, opened, monkeypatch):
    from rnxstudio.ui import verify

    store, session = opened, window.controller.session
    image_id = window.controller.current.id
    cat = store.category_by_name("cat").id
    session.set_predictions(image_id, detections(["cat"], [1], [0.9]).to_boxes([cat], image_id), model_name="m")
    window.actions_by_id["verify_accepts"].setChecked(False)
    asked = []
    monkeypatch.setattr(verify, "ask", lambda ctx, n: asked.append(n) or None)  # Cancel
    window.actions_by_id["verify_next"].trigger()
    assert asked == [1] and store.image(image_id).status is not ImageStatus.VERIFIED
    monkeypatch.setattr(verify, "ask", lambda ctx, n: asked.append(n) or "leave")
    window.actions_by_id["verify_next"].trigger()
    assert asked == [1, 1] and store.image(image_id).status is ImageStatus.VERIFIED
    assert store.boxes(image_id, include_predictions=False) == []  # the person chose so


def test_a_model_with_other_classes_goes_through_the_mapping_step(window, qtbot, opened):
    from PySide6.QtWidgets import QDialog

    store, pre = opened, window.features.prelabel
    image_id = window.controller.current.id
    det = detections(DEMO_CLASSES, [1, 2, 5], [0.9, 0.8, 0.7])
    pre._store_predictions(image_id, det)
    assert [c.name for c in store.categories()] == ["cat", "dog"]  # nothing added unasked
    assert predictions(store, image_id) == []
    from rnxstudio.data.classmap import NEW

    dlg = pre.mapping_dialog
    assert dlg is not None and dlg.isVisible()
    pre._store_predictions(image_id, det)  # a second result while it is open waits, no second dialog
    assert pre.mapping_dialog is dlg
    dlg.set_choice("circle", store.category_by_name("dog").id)
    dlg.set_choice("square", NEW)
    dlg.set_choice("ring", store.category_by_name("dog").id)  # many-to-one
    with qtbot.waitSignal(pre.result, timeout=EVENT_MS):
        dlg.done(QDialog.Accepted)
    assert [c.name for c in store.categories()] == ["cat", "dog", "square"]
    dog, square = store.category_by_name("dog").id, store.category_by_name("square").id
    assert sorted(b.category_id for b in predictions(store, image_id)) == sorted([dog, square, dog])
    with qtbot.waitSignal(pre.result, timeout=EVENT_MS):  # remembered: no step the second time
        pre._store_predictions(image_id, det)
    assert pre.mapping_dialog is None


def test_declining_the_mapping_stores_nothing_and_says_so(window, qtbot, opened):
    store, pre = opened, window.features.prelabel
    image_id = window.controller.current.id
    pre._store_predictions(image_id, detections(DEMO_CLASSES, [1], [0.9]))
    pre.mapping_dialog.reject()
    assert predictions(store, image_id) == [] and [c.name for c in store.categories()] == ["cat", "dog"]
    assert "not mapped" in window.statusBar().currentMessage()
    pre._store_predictions(image_id, detections(DEMO_CLASSES, [1], [0.9]))
    assert pre.mapping_dialog is None  # not asked again for every image of a batch


def test_export_summary_counts_unreadable_images_and_writes_provenance(window, qtbot, tmp_path):
    root = tmp_path / "imgs"
    make_shapes_dataset(3, (160, 120), seed=5, out_dir=root)
    (root / "annotations.json").unlink()
    first = sorted(root.glob("*.png"))[0]
    (root / "zz_broken.png").write_bytes(first.read_bytes()[:70])  # its header reads, its pixels do not
    store = open_with_classes(qtbot, window, root, names=("cat", "dog"))
    session = window.controller.session
    image_id = window.controller.current.id
    cat = store.category_by_name("cat").id
    session.set_predictions(image_id, detections(["cat"], [1], [0.9]).to_boxes([cat], image_id), model_name="m")
    session.verify(image_id, shown_from=0.5)
    exchange = window.features.exchange
    exchange.provenance = True
    result = exchange.export("coco", str(tmp_path / "out.json"), verified_only=False)
    assert result is not None and len(result.skipped) == 1
    message = window.statusBar().currentMessage()
    assert "1 unreadable image left out" in message and "zz_broken.png" in message
    data = json.loads((tmp_path / "out.json").read_text())
    assert "zz_broken.png" not in {i["file_name"] for i in data["images"]}
    (ann,) = data["annotations"]
    assert ann["attributes"] == {"provenance": "accepted", "model": "m", "score": pytest.approx(0.9)}


def test_one_box_per_object_is_the_projects_setting_in_the_model_menu(window, qtbot, opened):
    act, session = window.actions_by_id["one_box_per_object"], window.controller.session
    assert act.isCheckable() and act.isChecked() and session.one_box_per_object  # on in a new project
    act.trigger()
    assert not act.isChecked() and not session.one_box_per_object
    assert opened.meta("review.one_box_per_object") == "0"
    window.features.prelabel._on_project_opened(opened)  # what opening the project again does
    assert not act.isChecked()
