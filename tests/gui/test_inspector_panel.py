"""Inspector panel + worker (offscreen): renders a demo image, stage changes the overlay, hover,
top-k grid, Grad-CAM round trip, architecture table, clean shutdown."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from rnxstudio.data.demo import make_scene
from rnxstudio.ml.zoo import build_model
from rnxstudio.ui.inspector import InspectorJobs, InspectorPanel
from rnxstudio.ui.jobs import JobEngine
from rnxstudio.ui.inspector.views import qimage_to_rgb

pytestmark = pytest.mark.gui
TIMEOUT = 60_000


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    b = build_model("resnext_tiny_fpn", num_classes=5, class_names=["circle", "square", "triangle", "star", "ring"],
                    pretrained_backbone=False, min_size=128, max_size=160, score_thresh=0.0)
    b.model.eval()
    return b


@pytest.fixture(scope="module")
def demo_rgb():
    rgb, _ = make_scene(np.random.default_rng(5), 160, 120, 3)
    return rgb


@pytest.fixture
def rig(qtbot, built):
    engine = JobEngine()
    worker = InspectorJobs(engine)
    worker.set_model(built, "cpu")
    panel = InspectorPanel(model_names=["resnext_tiny_fpn", "resnet50_fpn", "resnext50_32x4d_fpn"])
    qtbot.addWidget(panel)
    panel.attach_worker(worker)
    panel.resize(900, 600)
    panel.show()
    yield panel, worker
    assert engine.shutdown(30)


def _inspect(qtbot, panel, worker, rgb):
    with qtbot.waitSignal(worker.inspected, timeout=TIMEOUT):
        panel.inspect(rgb)


def test_renders_demo_image_and_stage_changes_overlay(qtbot, rig, demo_rgb):
    panel, worker = rig
    _inspect(qtbot, panel, worker, demo_rgb)
    assert panel.stages()[:5] == ["stem", "res2", "res3", "res4", "res5"]
    assert panel.strip.stages() == panel.stages()
    assert panel.det_list.count() > 0
    shown = panel.shown_image()
    assert shown.shape == demo_rgb.shape and not np.array_equal(shown, demo_rgb)
    displayed = qimage_to_rgb(panel.view.image())
    np.testing.assert_array_equal(displayed, shown)

    panel.set_stage("res2")
    a = panel.shown_image().copy()
    panel.set_stage("res5")
    b = panel.shown_image().copy()
    panel.set_stage("P3")
    c = panel.shown_image().copy()
    assert np.abs(a.astype(int) - b).mean() > 1.0
    assert np.abs(b.astype(int) - c).mean() > 1.0
    panel.strip.stage_clicked.emit("res3")  # clicking a thumbnail selects the stage
    assert panel.stage == "res3"

    panel.set_opacity(0)
    np.testing.assert_array_equal(panel.shown_image(), demo_rgb)
    panel.set_opacity(60)
    panel.set_view("side")
    assert panel.shown_image().shape == (120, 320, 3)
    np.testing.assert_array_equal(panel.shown_image()[:, :160], demo_rgb)
    panel.set_view("overlay")
    before = panel.shown_image().copy()
    panel.set_colormap("jet")
    assert not np.array_equal(before, panel.shown_image())


def test_modes_and_hover(qtbot, rig, demo_rgb):
    panel, worker = rig
    _inspect(qtbot, panel, worker, demo_rgb)
    panel.set_stage("res3")
    fm = panel._result.features["res3"]
    text = panel.hover_text(50, 40)
    assert text.startswith("res3 · cell (") and "mean" in text
    r, c = (int(v) for v in text.split("cell (")[1].split(")")[0].split(", "))
    assert f"{float(fm.data[:, r, c].mean()):.4g}" in text
    panel.set_mode("channel", channel=7)
    assert f"channel 7 · activation {fm.data[7, r, c]:.4g}" in panel.hover_text(50, 40)
    panel.set_mode("max")
    assert "max |activation|" in panel.hover_text(50, 40)
    panel.set_mode("topk")
    grid = panel.shown_image()
    h, w = fm.shape[1:]
    assert grid.shape == (4 * h + 3, 4 * w + 3, 3)  # 16 tiles in a 4x4 grid, 1-px gaps
    first = int(np.argmax(fm.data.reshape(fm.shape[0], -1).mean(axis=1)))
    assert f"channel {first} (rank 1)" in panel.hover_text(1, 1)
    assert not panel.opacity.isEnabled()


def test_gradcam_round_trip(qtbot, rig, demo_rgb):
    panel, worker = rig
    _inspect(qtbot, panel, worker, demo_rgb)
    panel.set_stage("res4")
    plain = panel.shown_image().copy()
    requested = []
    panel.gradcam_requested.connect(lambda i, s: requested.append((i, s)))
    with qtbot.waitSignal(worker.gradcam_ready, timeout=TIMEOUT) as blocker:
        panel._on_detection(panel.det_list.item(0))
    assert requested == [(0, "res4")]
    result = blocker.args[1]
    assert result.stage == "res4" and result.heat.shape == demo_rgb.shape[:2]
    assert not np.array_equal(plain, panel.shown_image())
    assert "Grad-CAM res4" in panel.hover_text(10, 10)
    panel.set_stage("res5")  # a new stage replaces the Grad-CAM view
    assert "Grad-CAM" not in panel.hover_text(10, 10)
    with pytest.raises(ValueError, match="does not match"):
        panel.show_gradcam(np.zeros((5, 5), np.float32))


def test_arch_table_compare_copy_export(qtbot, rig, tmp_path):
    panel, worker = rig
    view = panel.arch_view
    view.model_combo.setCurrentText("resnext50_32x4d_fpn")
    view.compare_combo.setCurrentText("resnet50_fpn")
    with qtbot.waitSignal(worker.arch_ready, timeout=TIMEOUT):
        view.request()
    m = view.model
    assert m.rowCount() >= 10 and m.grid.rows[-1][0] == "total"
    assert m.grid.highlight  # groups 32 vs 1 etc.
    # sort by params A descending: largest first
    col = m.grid.headers.index("params A (M)")
    view.table.sortByColumn(col, Qt.SortOrder.DescendingOrder)
    vals = [float(view.proxy.index(r, col).data() or "nan") for r in range(view.proxy.rowCount())]
    assert vals[0] == max(v for v in vals if v == v)
    view.copy_to_clipboard()
    clip = QGuiApplication.clipboard().text()
    assert clip.split("\n")[0].split("\t")[0] == "stage" and "res5" in clip
    view.export(str(tmp_path / "t.csv"), "csv")
    rows = list(csv.reader(open(tmp_path / "t.csv")))
    assert rows[0] == m.grid.headers and len(rows) == m.rowCount() + 1
    view.export(str(tmp_path / "t.md"), "markdown")
    assert "**32 -> 1**" in (tmp_path / "t.md").read_text()
    # the loaded model at the current image size
    view.model_combo.setCurrentIndex(0)
    view.compare_combo.setCurrentIndex(0)
    view.size_edit.setText("120x160")
    with qtbot.waitSignal(worker.arch_ready, timeout=TIMEOUT) as blocker:
        view.request()
    assert blocker.args[1].table.batch_hw == (128, 160)
    view.size_edit.setText("huge")
    view.request()
    assert "expected HEIGHTxWIDTH" in view.status.text()


def test_worker_latest_wins_and_errors(qtbot, built, demo_rgb):
    engine = JobEngine()
    worker = InspectorJobs(engine)
    got, failed, busy = [], [], []
    worker.inspected.connect(lambda rid, _r: got.append(rid))
    worker.failed.connect(lambda k, m: failed.append((k, m)))
    worker.busy.connect(busy.append)
    with qtbot.waitSignal(worker.failed, timeout=TIMEOUT):
        worker.inspect(demo_rgb)  # no model yet
    assert failed[0] == ("inspect", "inspect: no model loaded")
    worker.set_model(built)
    ids = [worker.inspect(demo_rgb) for _ in range(4)]
    qtbot.waitUntil(lambda: ids[-1] in got, timeout=TIMEOUT)
    qtbot.wait(50)
    assert got == [ids[-1]]
    assert worker.jobs_run <= 1 + 4
    qtbot.waitUntil(lambda: busy[-1:] == [False], timeout=TIMEOUT)  # stale jobs end the busy spell too
    assert engine.shutdown(30)
    assert not engine.alive()
    worker.inspect(demo_rgb)  # after shutdown: silently ignored
    qtbot.wait(50)
    assert got == [ids[-1]]


def test_inspection_shares_the_model_lane_with_inference(qtbot, built, demo_rgb):
    """One lane thread runs both, so inspection and pre-labeling never use the model at once."""
    import threading

    from rnxstudio.ui.inference import InferenceClient

    engine = JobEngine()
    try:
        seen: list[str] = []

        class Recorder:
            class_names = ["a"]

            def predict(self, images):
                seen.append(threading.current_thread().name)
                return [None for _ in images]

        client = InferenceClient(engine)
        client.set_model(Recorder())
        worker = InspectorJobs(engine)
        worker.set_model(built)
        with qtbot.waitSignal(client.result, timeout=TIMEOUT):
            client.request(1, demo_rgb)
        lanes = []
        with qtbot.waitSignal(worker.inspected, timeout=TIMEOUT):
            worker.inspect(demo_rgb)
        engine.submit("probe", lambda ctx: lanes.append(threading.current_thread().name))  # where inspect ran
        qtbot.waitUntil(lambda: bool(lanes), timeout=TIMEOUT)
        assert seen == lanes == ["rnx-model"] and engine.latest("inspect").lane == "model"
    finally:
        assert engine.shutdown(30)
