"""Closing the loop in the app: a tiny fine-tune runs to completion from the Training panel, the
run and its best checkpoint are recorded, the before/after table appears and one click makes the
new checkpoint the pre-labeling model; cancel + resume; the measured estimate; the review queue;
compare backbones; clean shutdown mid-run. Tiny model, 64 px images, a handful of steps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from waits import EVENT_MS, MODEL_MS
from rnxstudio.core.model import Box, BoxSource, ImageStatus
from rnxstudio.data.demo import make_shapes_dataset
from window_helpers import wait_for_image

pytestmark = pytest.mark.gui

TRAIN_TIMEOUT = MODEL_MS


@pytest.fixture
def labelled(window, qtbot, tmp_path):
    """An open project of 6 small shape images with their boxes imported and marked verified."""
    from rnxstudio.data.exchange import import_labels

    imgs = tmp_path / "imgs"
    make_shapes_dataset(6, 64, seed=4, out_dir=imgs, max_objects=2, empty_every=0)
    labels = tmp_path / "labels.json"
    shutil.move(imgs / "annotations.json", labels)
    assert window.open_path(imgs)
    store = window.controller.store
    report = import_labels(store, labels, "coco")
    assert report.added_boxes > 0
    for iid in store.image_ids():
        store.set_status(iid, ImageStatus.VERIFIED)
    wait_for_image(qtbot, window)
    return store


def tiny_options(**kw):
    from rnxstudio.ui.training.options import FinetuneOptions

    base = dict(base="resnext_tiny_fpn", pretrained_backbone=False, trainable_layers=5, size=64, max_size=96,
                batch_size=2, epochs=1, max_steps=2, device="cpu", val_split=0.2,
                extra=dict(scale_jitter=False, optimizer="adamw", seed=0))
    base.update(kw)
    return FinetuneOptions(**base)


@pytest.mark.slow
def test_tiny_finetune_completes_records_and_hot_swaps(window, qtbot, labelled, qt_messages):
    from PySide6.QtCore import QTimer

    store, tr = labelled, window.features.training.controller
    assert window.actions_by_id["finetune"].isVisible()
    ticks = []
    timer = QTimer(window, interval=50)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    with qtbot.waitSignal(tr.run_finished, timeout=TRAIN_TIMEOUT) as done:
        assert tr.start_run(tiny_options())
        assert tr.panel.isVisible() and tr.panel.cancel_button.isEnabled()
    timer.stop()
    # the GUI thread kept running its event loop during training: a run that blocked it would
    # finish inside start_run() and leave no tick. (A tick count tied to the run's length failed
    # on a fast machine, where 2 tiny steps take under half a second.)
    assert len(ticks) >= 2
    best = Path(done.args[0])
    assert best.is_file()
    # the panel drew one point per step for every torchvision loss term, and the lr
    panel = tr.panel
    assert set(panel.losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg", "total"}
    assert panel.steps == [1, 2] and len(panel.lrs) == 2
    assert len(panel.maps) == 1 and panel.progress.value() == panel.progress.maximum() == 2
    assert panel.loss_plot is not None  # built when the dock was shown
    assert list(panel._loss_curves["total"].getData()[0]) == [1, 2]
    # the run: snapshot export of the verified images, config, status, best model with metrics
    (run,) = store.training_runs()
    snap = json.loads(Path(run.snapshot_path).read_text())
    assert len(snap["images"]) == 6 and Path(run.snapshot_path).is_relative_to(tr.run.run_dir)
    assert run.config["model"] == "resnext_tiny_fpn" and run.config["selection"] == "verified"
    assert run.status == "finished" and run.ended
    model = next(m for m in store.models() if m.id == run.model_id)
    assert "AP" in model.metrics and model.recipe["size"] == 64
    # before/after on the same val split, then one click to pre-label with the new checkpoint
    with qtbot.waitSignal(tr.results_ready, timeout=TRAIN_TIMEOUT) as res:
        pass
    dlg = res.args[0]
    assert dlg.cell(0, 0) == "AP" and dlg.table.columnCount() == 4  # metric, base, new, change
    assert dlg.table.horizontalHeaderItem(1).text().startswith("base (resnext_tiny_fpn")
    assert [dlg.cell(r, 0) for r in range(3, 8)] == [f"AP {c}" for c in ("circle", "square", "triangle", "star", "ring")]
    assert "val_after" in store.training_runs()[0].metrics
    pre = window.features.prelabel
    with qtbot.waitSignal(pre.models.changed, timeout=EVENT_MS):
        dlg.use_buttons["new"].click()
    assert pre.models.choice.checkpoint == str(best) and pre.models.origin == "fine-tuned"
    assert not dlg.use_buttons["new"].isEnabled()
    image_id = window.controller.current.id
    store.set_status(image_id, ImageStatus.IN_PROGRESS)
    with qtbot.waitSignal(pre.result, timeout=EVENT_MS):
        assert pre.prelabel_current()
    qtbot.waitUntil(lambda: window.jobs.alive(), timeout=EVENT_MS)
    rows = store._q("SELECT DISTINCT model_name FROM boxes WHERE image_id = ? AND source = 'predicted'",
                    (image_id,)).fetchall()
    assert rows == [] or rows == [(best.name,)]  # the new model may find nothing; never the old one
    assert qt_messages == []


@pytest.mark.slow
def test_cancel_then_resume_continues_the_run(window, qtbot, labelled):
    from rnxstudio.ml.train_state import load_train_state

    store, tr = labelled, window.features.training.controller
    steps_seen = []

    def on_progress(kind, p):
        if kind == "train" and p.kind == "step" and p.losses:
            steps_seen.append(p.step)
            if p.step == 1 and len(steps_seen) == 1:
                tr.cancel()

    tr.progress.connect(on_progress)
    with qtbot.waitSignal(tr.run_cancelled, timeout=TRAIN_TIMEOUT) as cancelled:
        assert tr.start_run(tiny_options(max_steps=4, epochs=None))
    ckpt = cancelled.args[0]
    # the cancel reaches the trainer through the GUI thread, so it stops at the step after
    # the one that asked (never later than that plus one, on a busy machine)
    stopped_at = load_train_state(ckpt)["step"]
    assert 1 <= stopped_at <= 3 and steps_seen == list(range(1, stopped_at + 1))
    assert store.training_runs()[0].status == "cancelled"
    assert tr.panel.resume_button.isEnabled() and not tr.panel.cancel_button.isEnabled()
    with qtbot.waitSignal(tr.run_finished, timeout=TRAIN_TIMEOUT):
        tr.panel.resume_button.click()
    assert steps_seen == [1, 2, 3, 4]  # resumed after the saved step, not from scratch
    assert tr.panel.steps == [1, 2, 3, 4]
    assert store.training_runs()[0].status == "finished"
    qtbot.waitUntil(lambda: not tr.busy, timeout=TRAIN_TIMEOUT)  # before/after evaluation


@pytest.mark.slow
def test_dialog_estimate_is_measured_and_start_uses_the_choices(window, qtbot, labelled):
    tr = window.features.training.controller
    dlg = tr.make_dialog(tiny_options())
    assert "circle" in dlg.classes.text() and dlg.selection.currentData() == "verified"
    assert "(6)" in dlg.selection.currentText()
    assert "default for cpu" in dlg.lr_hint.text()
    with qtbot.waitSignal(tr.estimate_ready, timeout=TRAIN_TIMEOUT) as est:
        dlg.estimate_button.click()
        assert not dlg.estimate_button.isEnabled() and not dlg.start_button.isEnabled()
    e = est.args[0]
    assert e.seconds_per_step > 0 and e.steps_per_epoch in (2, 3)  # 4-5 train images (val 1-2 of 6: ADR 0025), batch 2
    assert "per epoch" in dlg.estimate_label.text() and dlg.start_button.isEnabled()
    opts = dlg.options()
    assert (opts.base, opts.size, opts.batch_size, opts.selection) == ("resnext_tiny_fpn", 64, 2, "verified")
    dlg.close()


def test_review_dock_orders_and_navigates(window, qtbot, labelled, qt_messages):
    store = labelled
    ids = store.image_ids()
    cat = store.categories()[0].id
    # image 0: every prediction wrong (all its boxes FN + one FP); image 1: one extra prediction
    truth1 = store.boxes(ids[1], include_predictions=False)
    store.set_predictions(ids[0], [Box(1, 1, 9, 9, cat, score=0.9)], model_name="m")
    store.set_predictions(ids[1], [Box(b.x1, b.y1, b.x2, b.y2, b.category_id, score=0.95) for b in truth1]
                          + [Box(1, 1, 9, 9, cat, score=0.8)], model_name="m")
    window.actions_by_id["review_queue"].trigger()
    review = window.features.training.review
    assert review.isVisible()
    n0 = len(store.boxes(ids[0], include_predictions=False))
    assert [(it.image_id, it.fp, it.fn) for it in review.items] == [(ids[0], 1, n0), (ids[1], 1, 0)]
    assert review.list.count() == 2 and "FP 1" in review.list.item(0).text()
    review.list.setCurrentRow(1)
    assert window.controller.current.id == ids[1]
    wait_for_image(qtbot, window)
    review.show_matches.setChecked(True)
    qtbot.waitUntil(lambda: review.overlay.counts() == {"tp": len(truth1), "fp": 1, "fn": 0}, timeout=EVENT_MS)
    review.show_matches.setChecked(False)
    assert review.overlay.items == []
    # uncertainty: an unlabeled image with a near-threshold prediction
    store.set_status(ids[2], ImageStatus.UNLABELED)
    for b in store.boxes(ids[2], include_predictions=False):
        store.delete_box(b.id)
    store.set_predictions(ids[2], [Box(2, 2, 30, 30, cat, score=0.45)], model_name="m")
    store.set_status(ids[2], ImageStatus.PREDICTED)
    review.mode.setCurrentIndex(review.mode.findData("uncertainty"))
    assert [(it.image_id, it.uncertain) for it in review.items] == [(ids[2], 1)]
    assert [b.source for b in store.boxes(ids[2])] == [BoxSource.PREDICTED]
    assert qt_messages == []


@pytest.mark.slow
def test_compare_backbones_side_by_side(window, qtbot, labelled, monkeypatch):
    import dataclasses

    from rnxstudio.ml import zoo

    tr = window.features.training.controller
    # two zoo members with one step each at 64 px; a second tiny member keeps this cheap (the
    # real choice, e.g. resnet50_fpn vs resnext50_32x4d_fpn, costs minutes on this CPU)
    twin = dataclasses.replace(zoo.MODELS["resnext_tiny_fpn"], name="resnext_tiny_twin", title="tiny twin")
    monkeypatch.setitem(zoo.MODELS, twin.name, twin)
    names = ["resnext_tiny_fpn", twin.name]
    with qtbot.waitSignal(tr.compare_ready, timeout=TRAIN_TIMEOUT) as res:
        assert tr.compare_backbones(names, tiny_options(max_steps=1, size=64, max_size=64, batch_size=1))
    dlg = res.args[0]
    assert [dlg.table.horizontalHeaderItem(c).text() for c in range(4)] == ["metric", *names, "change"]
    assert dlg.cell(dlg.table.rowCount() - 1, 0) == "train time"
    assert set(tr.compare_results) == set(names)
    assert all(Path(r["checkpoint"]).is_file() and r["eval"] is not None for r in tr.compare_results.values())
    runs = window.controller.store.training_runs()
    assert [r.status for r in runs] == ["finished", "finished"] and all(r.model_id for r in runs)


@pytest.mark.slow
def test_close_during_training_joins_the_thread(window, qtbot, labelled, qt_messages):
    tr = window.features.training.controller
    with qtbot.waitSignal(tr.progress, timeout=TRAIN_TIMEOUT,
                          check_params_cb=lambda kind, p: p.kind == "step"):
        assert tr.start_run(tiny_options(max_steps=50, epochs=None))
    assert not tr.start_run(tiny_options())  # one job at a time, said plainly
    assert "still running" in window.last_error[1]
    window.ask_before_quit = False  # the question itself: test_labeler_quit.py
    window.close()
    assert not window.jobs.alive()
    cancel_ckpt = tr.run.run_dir / "checkpoints" / "model_last.safetensors"
    assert cancel_ckpt.is_file()  # resumable
    assert not any("QThread" in m for m in qt_messages), qt_messages


def test_start_without_verified_images_says_so(window, qtbot, labelled):
    store, tr = labelled, window.features.training.controller
    for iid in store.image_ids():
        store.set_status(iid, ImageStatus.IN_PROGRESS)
    assert not tr.start_run(tiny_options())
    assert "no image is marked verified" in window.last_error[1]
    assert store.training_runs() == [] and not tr.busy
    tr.panel.setVisible(True)
    assert not tr.panel.resume_button.isEnabled() and not tr.panel.cancel_button.isEnabled()


@pytest.mark.slow
@pytest.mark.modal
def test_finetune_action_opens_the_dialog_and_starts_with_its_choices(window, qtbot, labelled):
    from PySide6.QtCore import QTimer

    tr = window.features.training.controller
    seen = {}

    def fill_and_start():
        dlg = tr.dialog
        seen["classes"] = dlg.classes.text()
        dlg.base.setCurrentIndex(dlg.base.findData("resnext_tiny_fpn"))
        dlg.pretrained.setChecked(False)
        dlg.size.setValue(64)
        dlg.batch.setValue(2)
        dlg.by_epochs.setChecked(True)
        dlg.epochs.setValue(1)
        dlg.start_button.click()

    QTimer.singleShot(0, fill_and_start)
    with qtbot.waitSignal(tr.run_finished, timeout=TRAIN_TIMEOUT):
        window.actions_by_id["finetune"].trigger()
    assert "triangle" in seen["classes"] and tr.dialog is None
    cfg = window.controller.store.training_runs()[0].config
    assert (cfg["model"], cfg["size"], cfg["batch_size"], cfg["epochs"], cfg["pretrained_backbone"]) == (
        "resnext_tiny_fpn", 64, 2, 1, False)
    assert tr.panel.steps == [1, 2, 3]  # 5 train images, batch 2: one epoch
    qtbot.waitUntil(lambda: not tr.busy, timeout=TRAIN_TIMEOUT)  # before/after evaluation
