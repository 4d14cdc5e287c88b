"""The annotation workspace end to end: mouse/keys -> commands -> store, undo/redo,
pre-labeling with the tiny model, video frames, export, clean shutdown."""

from __future__ import annotations

import json

import pytest

from waits import EVENT_MS, MODEL_MS
from PySide6.QtCore import Qt

from canvas_helpers import image_drag
from rnxstudio.core.model import BoxSource, ImageStatus
from rnxstudio.data.demo import make_shapes_dataset, make_shapes_video
from window_helpers import open_with_classes, wait_for_image

pytestmark = pytest.mark.gui


@pytest.fixture
def project(window, qtbot, tmp_path):
    make_shapes_dataset(4, (160, 120), seed=5, out_dir=tmp_path / "imgs")
    (tmp_path / "imgs" / "annotations.json").unlink()
    return open_with_classes(qtbot, window, tmp_path / "imgs")


def _manual(store, image_id):
    return [b for b in store.boxes(image_id) if b.source != BoxSource.PREDICTED]


def test_draw_move_delete_undo_redo_write_through(window, qtbot, project):
    store, cv = project, window.canvas
    image_id = window.controller.current.id
    window.actions_by_id["draw_box"].trigger()
    image_drag(cv, (10, 20), (60, 70))
    (box,) = _manual(store, image_id)
    assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx((10, 20, 60, 70), abs=0.6)
    assert store.image(image_id).status == ImageStatus.IN_PROGRESS
    # move with arrow keys (Shift = 10 px)
    cv.select([box.id])
    cv.setFocus()
    qtbot.keyClick(cv.viewport(), Qt.Key_Right, Qt.ShiftModifier)
    moved = store.get_box(box.id)
    assert moved.x1 == pytest.approx(box.x1 + 10)
    # class change via keys 2 -> current class, then Relabel through the command path
    window.features.editing.change_class([box.id], category_id=store.category_by_name("square").id)
    assert store.get_box(box.id).category_id == store.category_by_name("square").id
    window.actions_by_id["delete_boxes"].trigger()
    assert _manual(store, image_id) == []
    # undo three times: delete, relabel, move
    for _ in range(3):
        window.actions_by_id["undo"].trigger()
    restored = store.get_box(box.id)
    assert (restored.x1, restored.category_id) == pytest.approx((box.x1, box.category_id))
    window.actions_by_id["redo"].trigger()
    window.actions_by_id["redo"].trigger()
    window.actions_by_id["redo"].trigger()
    assert _manual(store, image_id) == []
    assert sorted(b.id for b in cv.boxes()) == []


def test_paste_previous_touches_only_current_image(window, qtbot, project):
    store = project
    first = window.controller.current.id
    window.actions_by_id["draw_box"].trigger()
    image_drag(window.canvas, (5, 5), (40, 40))
    window.controller.step(+1)
    wait_for_image(qtbot, window)
    second = window.controller.current.id
    third = window.controller.files.id_at(2)
    window.actions_by_id["paste_previous"].trigger()
    assert len(_manual(store, second)) == 1
    assert len(_manual(store, first)) == 1
    assert _manual(store, third) == []


def test_verify_and_next(window, qtbot, project):
    first = window.controller.current.id
    window.actions_by_id["verify_next"].trigger()
    assert project.image(first).status == ImageStatus.VERIFIED
    assert window.controller.current.id != first


def test_export_coco_from_menu(window, qtbot, project, tmp_path):
    window.actions_by_id["draw_box"].trigger()
    image_drag(window.canvas, (10, 10), (50, 30))
    out = tmp_path / "out" / "labels.json"
    result = window.features.exchange.export("coco", str(out), verified_only=False)
    assert result is not None and out.is_file()
    data = json.loads(out.read_text())
    assert len(data["images"]) == 4 and len(data["annotations"]) == 1
    assert data["annotations"][0]["bbox"] == pytest.approx([10, 10, 40, 20], abs=0.6)
    # nothing verified yet -> a clear error, shown once
    assert window.features.exchange.export("coco", str(out), verified_only=True) is None
    assert "verified" in window.last_error[1]


@pytest.mark.slow
def test_prelabel_with_tiny_model_never_overwrites_manual_boxes(window, qtbot, project):
    from rnxstudio.ui.models import ModelChoice

    store, pre = project, window.features.prelabel
    image_id = window.controller.current.id
    window.actions_by_id["draw_box"].trigger()
    image_drag(window.canvas, (10, 10), (50, 50))
    manual_before = _manual(store, image_id)
    pre.load(ModelChoice(zoo_name="resnext_tiny_fpn", pretrained_backbone=False))
    qtbot.waitUntil(lambda: pre.models.loaded, timeout=MODEL_MS)
    assert "random" in pre.models.text
    with qtbot.waitSignal(pre.result, timeout=EVENT_MS):
        assert pre.prelabel_current()
    preds = [b for b in store.boxes(image_id) if b.source == BoxSource.PREDICTED]
    assert preds, "the random tiny model still returns low-score boxes"
    assert _manual(store, image_id) == manual_before
    # stale requests: rapid next-next-next only runs the image finally shown
    pre.auto = True
    passes = pre.client.forward_passes
    for _ in range(3):
        window.controller.step(+1)
    final = window.controller.current.id
    qtbot.waitUntil(lambda: any(b.source == BoxSource.PREDICTED for b in store.boxes(final)), timeout=EVENT_MS)
    assert pre.client.forward_passes - passes <= 2
    # pre-label all: runs in the background and can be cancelled
    n = pre.prelabel_many("all")
    assert n == 4
    with qtbot.waitSignal(pre.client.batch_finished, timeout=MODEL_MS):
        pass
    assert all(store.image(i).status != ImageStatus.UNLABELED for i in window.controller.files.ids())
    # closing while the worker may be busy exits cleanly
    pre.prelabel_many("all")
    window.close()
    assert not window.jobs.alive()


def test_video_frames_and_per_frame_boxes(window, qtbot, tmp_path):
    video = tmp_path / "clip.avi"
    make_shapes_video(video, n_frames=12, size=(160, 120), seed=3)
    assert window.open_path(video)
    store = window.controller.store
    window.controller.session.category_ids_for(["thing"])
    assert window.features.video.bar.isVisibleTo(window)
    wait_for_image(qtbot, window)
    assert window.controller.current.frame_index == 0
    window.actions_by_id["next_frame"].trigger()
    window.actions_by_id["next_frame"].trigger()
    assert window.controller.current.frame_index == 2
    assert "frame 2 / 11" in window.features.video.label.text()
    wait_for_image(qtbot, window)
    window.actions_by_id["draw_box"].trigger()
    image_drag(window.canvas, (20, 20), (60, 50))
    frame2 = window.controller.current.id
    window.actions_by_id["copy_to_next_frame"].trigger()
    assert window.controller.current.frame_index == 3
    assert len(_manual(store, window.controller.current.id)) == 1
    window.features.video.jump(7)
    assert window.controller.current.frame_index == 7
    window.features.video.jump(2)
    assert len(_manual(store, frame2)) == 1
