"""Issue 15, items 14 and 15 in the app: the project's runs are listed after a relaunch (from the
store, through the session), an interrupted or cancelled run resumes after a restart, a
finished run's checkpoint is offered as the base of the next fine-tune, and the progress bar
of a run that ended early ends at 100 %."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from waits import EVENT_MS, MODEL_MS
from rnxstudio.core.model import ImageStatus
from rnxstudio.data.demo import make_shapes_dataset
from window_helpers import wait_for_image

pytestmark = pytest.mark.gui


@pytest.fixture
def project(tmp_path):
    """A folder of 6 small shape images and their COCO labels beside it."""
    imgs = tmp_path / "imgs"
    make_shapes_dataset(6, 64, seed=4, out_dir=imgs, max_objects=2, empty_every=0)
    shutil.move(imgs / "annotations.json", tmp_path / "labels.json")
    return imgs


def _window(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from rnxstudio.ui.app import make_app
    from rnxstudio.ui.main_window import MainWindow

    make_app()
    w = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    qtbot.addWidget(w)
    w.show()
    return w


def _open_labelled(qtbot, w, imgs):
    assert w.open_path(imgs)
    session = w.controller.session
    if not session.store.count_boxes():
        session.import_labels(imgs.parent / "labels.json", "coco")
        for iid in session.store.image_ids():
            session.verify(iid)
    wait_for_image(qtbot, w)
    return session.store


def _tiny(**kw):
    from rnxstudio.ui.training.options import FinetuneOptions

    base = dict(base="resnext_tiny_fpn", pretrained_backbone=False, trainable_layers=5, size=64, max_size=96,
                batch_size=2, epochs=None, max_steps=4, device="cpu", val_split=0.2,
                extra=dict(scale_jitter=False, optimizer="adamw", seed=0))
    base.update(kw)
    return FinetuneOptions(**base)


@pytest.mark.slow
def test_runs_are_listed_after_a_relaunch_and_an_interrupted_run_resumes(qtbot, tmp_path, project):
    w = _window(qtbot, tmp_path)
    _open_labelled(qtbot, w, project)
    tr = w.features.training.controller

    def cancel_after_first(kind, p):
        if kind == "train" and p.kind == "step" and p.losses and p.step == 1:
            tr.cancel()

    tr.progress.connect(cancel_after_first)
    with qtbot.waitSignal(tr.run_cancelled, timeout=MODEL_MS):
        assert tr.start_run(_tiny())
    qtbot.waitUntil(lambda: not tr.busy, timeout=MODEL_MS)
    w.close()

    # relaunch: the run is listed with its state, base model and data, and Resume works
    w2 = _window(qtbot, tmp_path)
    store = _open_labelled(qtbot, w2, project)
    tr2 = w2.features.training.controller
    panel = tr2.panel
    assert panel.runs.topLevelItemCount() == 1
    item = panel.runs.topLevelItem(0)
    assert [item.text(c) for c in range(3)] == ["1", "cancelled", "resnext_tiny_fpn"]
    assert item.text(3).startswith("6 images")
    assert panel.selected_run_id() == 1 and panel.resume_button.isEnabled()
    assert not panel.title.text().startswith("No run yet")
    # a run the store still calls "running" (the app was killed) is shown as interrupted
    w2.controller.session.update_training_run(1, status="running")
    assert panel.runs.topLevelItem(0).text(1) == "interrupted" and panel.resume_button.isEnabled()
    steps = []
    tr2.progress.connect(lambda kind, p: steps.append(p.step) if kind == "train" and p.kind == "step" else None)
    with qtbot.waitSignal(tr2.run_finished, timeout=MODEL_MS) as done:
        panel.resume_button.click()
    assert steps and steps[0] >= 2 and steps[-1] == 4  # continued after the saved step
    assert store.training_runs()[0].status == "finished"
    assert panel.runs.topLevelItem(0).text(1) == "finished" and not panel.resume_button.isEnabled()
    qtbot.waitUntil(lambda: not tr2.busy, timeout=MODEL_MS)  # before/after evaluation

    # the finished run's checkpoint is a base for the next fine-tune
    dlg = tr2.make_dialog()
    qtbot.addWidget(dlg)
    bases = [dlg.base.itemData(i) for i in range(dlg.base.count())]
    assert done.args[0] in bases
    dlg.base.setCurrentIndex(bases.index(done.args[0]))
    assert dlg.options().base == done.args[0]
    w2.close()


def test_a_finished_runs_checkpoint_is_offered_as_a_base(window, qtbot, project):
    store = _open_labelled(qtbot, window, project)
    session = window.controller.session
    out = project.parent / "run" / "checkpoints"
    out.mkdir(parents=True)
    best = out / "model_best.safetensors"
    best.write_bytes(b"weights")  # only its existence matters to the list
    model = session.add_model(best, name="run 1 (epoch 3)", classes=["circle"], metrics={"AP": 0.5, "AP50": 0.8})
    run_id = session.add_training_run(config={"model": "resnext_tiny_fpn", "base": "resnext_tiny_fpn",
                                              "out_dir": str(out), "name": "model", "selection": "verified"},
                                      snapshot_path=None, model_id=model.id)
    session.update_training_run(run_id, status="finished", metrics={"AP": 0.5, "AP50": 0.8}, ended=True)
    tr = window.features.training.controller
    dlg = tr.make_dialog()
    qtbot.addWidget(dlg)
    labels = {dlg.base.itemData(i): dlg.base.itemText(i) for i in range(dlg.base.count())}
    assert str(best) in labels and labels[str(best)].startswith(f"Run {run_id} (0.500 / 0.800")
    assert store.training_runs()[0].status == "finished"


def test_the_progress_bar_ends_at_100_percent_when_a_run_ends_early(qtbot):
    from rnxstudio.ml.train_config import Progress
    from rnxstudio.ui.training.panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    for step in (1, 2, 3):
        panel.add(Progress(step=step, epoch=0, total_steps=10, losses={"loss": 1.0}, lr=0.1, images_per_s=1.0,
                           eta_s=1.0))
    # a --minutes run stopped by its time budget before its planned 10 steps
    panel.add(Progress(step=3, epoch=0, total_steps=10, losses={}, lr=0.1, images_per_s=0.0, eta_s=0.0,
                       kind="done", message="time budget reached; done after 3 steps"))
    assert panel.progress.value() == panel.progress.maximum() > 0
