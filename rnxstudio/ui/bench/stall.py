"""`rnxstudio bench gui-stall`: the longest GUI-thread stall while the detector runs (as job
kinds of the app's one job engine, :mod:`rnxstudio.ui.jobs`).

A heartbeat QTimer on the GUI thread ticks every few milliseconds; the gap between ticks is how
long the GUI could not react. Phases: loading the model (factory on the worker thread), single
pre-label requests one after another (the "image on arrival" path), and pre-label-all over a
folder of demo images. Target: the worst gap <= 50 ms. Prints figures only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="resnext_tiny_fpn", help="zoo model name")
    parser.add_argument("--size", type=int, default=160, help="demo image side in pixels")
    parser.add_argument("--n", type=int, default=12, help="images for pre-label-all")
    parser.add_argument("--requests", type=int, default=6, help="single requests, one after another")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tick-ms", type=int, default=5, help="heartbeat interval")
    parser.add_argument("--preimport", action="store_true",
                        help="import torch on the GUI thread before measuring (as an app would at start-up)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")


class _Heartbeat:
    def __init__(self, tick_ms: int) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return list(self.gaps)


def _report(name: str, gaps: list[float], seconds: float, extra: str = "") -> None:
    if not gaps:
        print(f"{name:<22} no heartbeat ticks at all in {seconds:.2f} s (GUI blocked)")
        return
    ms = sorted(g * 1000.0 for g in gaps)
    p99 = ms[min(len(ms) - 1, int(0.99 * (len(ms) - 1)))]
    verdict = "OK" if ms[-1] <= 50.0 else "over 50 ms target"
    print(f"{name:<22} {seconds:6.2f} s  ticks {len(ms):5d}  median {statistics.median(ms):5.1f} ms  "
          f"p99 {p99:6.1f} ms  max {ms[-1]:6.1f} ms  [{verdict}]{extra}")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from rnxstudio.data.demo import make_shapes_dataset
    from rnxstudio.ui.inference import InferenceClient
    from rnxstudio.ui.jobs import JobEngine
    from rnxstudio.ui.ml_import import ml_lock

    app = QApplication.instance() or QApplication([])
    if args.preimport:
        t0 = time.perf_counter()
        with ml_lock():
            import rnxstudio.ml.predict  # noqa: F401 - torch + torchvision, before the heartbeat

        print(f"import torch stack on the GUI thread first: {time.perf_counter() - t0:.2f} s")
    beat = _Heartbeat(args.tick_ms)
    engine = JobEngine()
    worker = InferenceClient(engine)

    def wait_for(signal, timeout_s: float = 600.0) -> list:
        loop = QEventLoop()
        got: list = []

        def done(*a):
            got.append(a)
            loop.quit()

        signal.connect(done)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        signal.disconnect(done)
        if not got:
            raise RuntimeError(f"timed out after {timeout_s} s waiting for the worker")
        return list(got[0])

    try:
        with tempfile.TemporaryDirectory() as tmp:
            make_shapes_dataset(max(args.n, args.requests), size=args.size, seed=0, out_dir=tmp)
            files = sorted(os.path.join(tmp, "images", f) for f in os.listdir(os.path.join(tmp, "images"))) \
                if os.path.isdir(os.path.join(tmp, "images")) else \
                sorted(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".png"))
            print(f"model {args.model} on {args.device}, {len(files)} demo images {args.size}px, "
                  f"heartbeat every {args.tick_ms} ms")

            def factory():
                import torch

                with ml_lock():
                    from rnxstudio.ml.resolve import resolve

                if args.threads > 0:
                    torch.set_num_threads(args.threads)

                return resolve(args.model, class_names=[f"c{k}" for k in range(5)], pretrained_backbone=False,
                               min_size=args.size, max_size=args.size)

            beat.start()
            t0 = time.perf_counter()
            worker.set_model(factory, device=args.device)
            ready = wait_for(worker.model_ready)
            _report("load model", beat.stop(), time.perf_counter() - t0, f"  ({ready[0]})")

            beat.start()
            t0 = time.perf_counter()
            for k in range(args.requests):
                worker.request(k, files[k % len(files)])
                wait_for(worker.result)
            secs = time.perf_counter() - t0
            _report("single requests", beat.stop(), secs, f"  {args.requests / secs:.2f} img/s")

            beat.start()
            t0 = time.perf_counter()
            worker.prelabel_all([(k, f) for k, f in enumerate(files[: args.n])])
            done, total, cancelled = wait_for(worker.batch_finished)
            secs = time.perf_counter() - t0
            _report("pre-label all", beat.stop(), secs, f"  {done}/{total} images, {done / secs:.2f} img/s")
    finally:
        t0 = time.perf_counter()
        engine.shutdown()
        print(f"shutdown (join)        {time.perf_counter() - t0:6.3f} s")
        app.processEvents()
    return 0
