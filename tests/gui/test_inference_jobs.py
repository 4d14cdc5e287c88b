"""Inference as job kinds of the one engine: results on the GUI thread, latest-wins, batch cancel,
single requests served during a batch, clean shutdown."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from waits import EVENT_MS
from PySide6.QtCore import QThread

pytestmark = pytest.mark.gui


@dataclass
class FakeDetections:
    marker: int


class FakePredictor:
    """Records each forward pass; the first pixel of an image is its marker."""

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.delay = delay
        self.gate = gate
        self.calls: list[int] = []
        self.threads: list[int] = []
        self.entered = threading.Event()
        self.swapped: list[object] = []

    def predict(self, images):
        self.threads.append(threading.get_ident())
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        time.sleep(self.delay)
        out = [FakeDetections(int(im[0, 0, 0])) for im in images]
        self.calls.extend(d.marker for d in out)
        return out

    def swap(self, built):
        self.swapped.append(built)


def need_run_inference() -> None:
    """The batch tests drive the real ml.predict.run_inference; import torch up front so its
    (slow, on a loaded machine) import does not eat into the signal timeouts."""
    import rnxstudio.ml.predict  # noqa: F401


def img(marker: int, size: int = 16) -> np.ndarray:
    a = np.zeros((size, size, 3), np.uint8)
    a[0, 0, 0] = marker
    return a


def new_client(predictor=None, **kw):
    """A fresh engine and client; ``predictor`` is set as the model first (as the app does)."""
    from rnxstudio.ui.inference import InferenceClient
    from rnxstudio.ui.jobs import JobEngine

    engine = JobEngine()
    client = InferenceClient(engine, **kw)
    if predictor is not None:
        client.set_model(predictor)
    return engine, client


@pytest.fixture
def make_worker(qtbot):
    made = []

    def make(predictor=None, **kw):
        engine, client = new_client(predictor, **kw)
        made.append(engine)
        return client

    yield make
    for engine in made:
        assert engine.shutdown(timeout_s=20)


def test_results_arrive_on_the_gui_thread(make_worker, qtbot):
    pred = FakePredictor()
    w = make_worker(pred)
    got = []
    w.result.connect(lambda rid, iid, det: got.append((rid, iid, det, QThread.currentThread())))
    busy = []
    w.engine.busy_changed.connect(lambda lane, on: busy.append((lane, on)))
    with qtbot.waitSignal(w.result, timeout=EVENT_MS):
        rid = w.request(42, img(7))
    assert got[0][:3] == (rid, 42, FakeDetections(7))
    assert got[0][3] is QThread.currentThread()  # delivered on the GUI thread, even to a lambda
    assert pred.threads and pred.threads[0] != threading.get_ident()  # model ran elsewhere
    qtbot.waitUntil(lambda: busy[-1:] == [("model", False)], timeout=EVENT_MS)
    assert ("model", True) in busy


def test_rapid_requests_only_run_the_last(make_worker, qtbot):
    gate = threading.Event()
    pred = FakePredictor(gate=gate)
    w = make_worker(pred)
    results = []
    w.result.connect(lambda rid, iid, det: results.append(det.marker))
    w.request(0, img(200))  # occupies the worker until the gate opens
    assert pred.entered.wait(5)
    last = None
    for k in range(1, 11):
        last = w.request(k, img(k))
    gate.set()
    qtbot.waitUntil(lambda: results == [10], timeout=EVENT_MS)
    qtbot.wait(100)
    assert pred.calls == [200, 10]  # requests 1..9 never reached the model
    assert results == [10]  # the result of the superseded forward was dropped
    assert w.forward_passes == 2 and w.dropped >= 10  # 9 never ran, 1 result came too late
    assert w.is_current(last)


def test_unreadable_file_and_missing_model_fail_with_a_message(make_worker, qtbot, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"definitely not a png")
    w = make_worker(FakePredictor())
    with qtbot.waitSignal(w.failed, timeout=EVENT_MS) as blocker:
        w.request(3, str(bad))
    rid, image_id, message = blocker.args
    assert image_id == 3 and "broken.png" in message and message.startswith("cannot read")
    w2 = make_worker(None)
    with qtbot.waitSignal(w2.failed, timeout=EVENT_MS) as blocker:
        w2.request(4, img(1))
    assert blocker.args[2] == "no model loaded"
    with qtbot.waitSignal(w2.batch_finished, timeout=EVENT_MS) as blocker:
        w2.prelabel_all([(1, img(1))])
    assert blocker.args == [0, 1, True]


def test_images_are_loaded_on_the_worker(make_worker, qtbot, tmp_path):
    from PIL import Image

    path = tmp_path / "a.png"
    Image.fromarray(img(9, size=24)).save(path)
    pred = FakePredictor()
    w = make_worker(pred)
    with qtbot.waitSignal(w.result, timeout=EVENT_MS) as blocker:
        w.request(1, str(path))
    assert blocker.args[2] == FakeDetections(9)


def test_set_model_factory_swap_and_failure(make_worker, qtbot):
    w = make_worker(None)
    first = FakePredictor()
    with qtbot.waitSignal(w.model_ready, timeout=EVENT_MS):
        w.set_model(lambda: first)  # factory runs on the worker thread
    with qtbot.waitSignal(w.model_ready, timeout=EVENT_MS):
        w.set_model(type("Built", (), {"model": object(), "class_names": ["a"]})())
    assert len(first.swapped) == 1  # a BuiltModel is hot-swapped into the current predictor

    def boom():
        raise RuntimeError("weights file is damaged")

    with qtbot.waitSignal(w.model_failed, timeout=EVENT_MS) as blocker:
        w.set_model(boom)
    assert "weights file is damaged" in blocker.args[0]


def test_cancel_stops_a_batch_within_one_image(make_worker, qtbot):
    need_run_inference()
    pred = FakePredictor(delay=0.05)
    w = make_worker(pred)
    progress, items, at_cancel = [], [], []
    w.batch_item.connect(lambda iid, det, err: items.append((iid, det.marker, err)))

    def on_progress(done, total, ips, eta):
        progress.append((done, total, ips, eta))
        if done == 3 and not at_cancel:
            at_cancel.append(len(pred.calls))
            w.cancel_batch()

    w.progress.connect(on_progress)
    with qtbot.waitSignal(w.batch_finished, timeout=EVENT_MS) as blocker:
        w.prelabel_all([(100 + k, img(k)) for k in range(30)])
    done, total, cancelled = blocker.args
    assert cancelled and total == 30
    assert len(pred.calls) <= at_cancel[0] + 1  # at most the image in flight
    assert done == len(pred.calls) and done < 30
    assert items[:3] == [(100, 0, ""), (101, 1, ""), (102, 2, "")]
    assert progress[0][1] == 30 and progress[0][2] > 0


def test_single_requests_are_served_during_a_batch(make_worker, qtbot):
    need_run_inference()
    pred = FakePredictor(delay=0.03)
    w = make_worker(pred)
    results = []
    w.result.connect(lambda rid, iid, det: results.append(det.marker))
    w.prelabel_all([(k, img(k)) for k in range(40)])
    qtbot.waitUntil(lambda: len(pred.calls) >= 2, timeout=EVENT_MS)
    w.request(999, img(250))
    qtbot.waitUntil(lambda: results == [250], timeout=EVENT_MS)
    assert len(pred.calls) < 41  # served before the batch finished
    with qtbot.waitSignal(w.batch_finished, timeout=EVENT_MS) as blocker:
        w.cancel_batch()
    assert blocker.args[2] is True


def test_shutdown_during_a_forward_pass_is_clean(qtbot, qtlog):
    gate = threading.Event()
    pred = FakePredictor(gate=gate, delay=0.05)
    engine, w = new_client(pred)
    results = []
    w.result.connect(lambda *a: results.append(a))
    w.request(1, img(5))
    assert pred.entered.wait(5)
    threading.Timer(0.2, gate.set).start()  # the forward pass ends while shutdown waits
    t0 = time.perf_counter()
    assert engine.shutdown()
    assert time.perf_counter() - t0 >= 0.1
    assert not engine.alive()
    qtbot.wait(50)
    assert results == []  # nothing is delivered after shutdown
    del w, engine
    import gc

    gc.collect()
    qtbot.wait(20)
    assert not [r for r in qtlog.records if "QThread" in r.message or "thread" in r.message.lower()]


def test_shutdown_gives_up_on_a_stuck_lane_and_says_where_it_is(qtbot, caplog):
    """Closing never hangs: a lane still busy after the limit is reported with its stack and left."""
    gate = threading.Event()
    pred = FakePredictor(gate=gate)
    engine, w = new_client(pred)
    w.request(1, img(5))
    assert pred.entered.wait(5)
    try:
        with caplog.at_level("WARNING", logger="rnxstudio.ui.jobs"):
            assert engine.shutdown(timeout_s=0.2) is False
        assert engine.alive()
        text = caplog.text
        assert "model lane did not stop within 0.2 s" in text and "in predict" in text, text
    finally:
        gate.set()
    assert engine.shutdown(timeout_s=10)


def test_shutdown_during_a_batch_is_clean(qtbot, qtlog):
    need_run_inference()
    pred = FakePredictor(delay=0.05)
    engine, w = new_client(pred)
    w.prelabel_all([(k, img(k)) for k in range(100)])
    qtbot.waitUntil(lambda: len(pred.calls) >= 2, timeout=EVENT_MS)
    assert engine.shutdown(timeout_s=10)
    assert len(pred.calls) < 100
    assert not [r for r in qtlog.records if "QThread" in r.message]


def test_no_worker_thread_pumps_qt_events():
    """The batch used to call QCoreApplication.processEvents() on the worker thread to serve
    single requests; the engine's priorities do that now."""
    from pathlib import Path

    import rnxstudio.ui as ui

    root = Path(ui.__file__).parent
    for path in root.rglob("*.py"):
        if path.parent.name == "bench":  # the benchmarks pump the GUI thread's own loop
            continue
        assert "processEvents" not in path.read_text(encoding="utf-8"), path


def test_real_tiny_model_prelabels_on_the_worker(make_worker, qtbot, tmp_path):
    from rnxstudio.ml import zoo

    from PIL import Image

    def factory():
        return zoo.build_model("resnext_tiny_fpn", num_classes=5, pretrained_backbone=False,
                               min_size=128, max_size=160)

    w = make_worker(None)
    with qtbot.waitSignal(w.model_ready, timeout=EVENT_MS) as ready:
        w.set_model(factory, device="cpu")
    assert ready.args[1] is not None and ready.args[1].num_classes == 5
    assert "5 classes" in ready.args[0] and "cpu" in ready.args[0]
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (120, 150, 3), dtype=np.uint8)
    with qtbot.waitSignal(w.result, timeout=EVENT_MS) as blocker:
        w.request(11, rgb)
    det = blocker.args[2]
    assert det.image_size == (150, 120) and det.boxes.shape[1] == 4
    assert len(det.class_names) == 5

    good = tmp_path / "good.png"
    Image.fromarray(rgb).save(good)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 nope")
    from PySide6.QtCore import QTimer

    items, ticks = [], []
    w.batch_item.connect(lambda iid, d, err: items.append((iid, d, err, time.perf_counter())))
    heartbeat = QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(lambda: ticks.append(time.perf_counter()))
    heartbeat.start()
    t_start = time.perf_counter()
    with qtbot.waitSignal(w.batch_finished, timeout=EVENT_MS) as fin:
        w.prelabel_all([(1, str(good)), (2, str(broken)), (3, rgb), (4, str(good))])
    heartbeat.stop()
    assert fin.args == [4, 4, False]
    # The GUI thread kept processing events while the model ran (no timing assert here).
    assert any(t_start < t < items[-1][3] for t in ticks)
    assert [i[0] for i in items] == [1, 2, 3, 4]
    assert items[0][1] is not None and items[0][2] == ""
    assert items[1][1] is None and "broken.jpg" in items[1][2]
