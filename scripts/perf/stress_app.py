"""Stress script (not a test): the app on a generated folder of many small images.

    python3 scripts/perf/stress_app.py [--n 20000] [--prelabel 200] [--size 64]

Generates N small PNG images (once, cached under the temp dir), opens the folder in the real main
window (offscreen Qt unless a display is set), scrolls the whole image list page by page, steps
through images, pre-labels PRELABEL images with the tiny random-weights model in the background,
and prints: time to first image, scroll/step timings, pre-label throughput, the longest GUI stall
seen by a 5 ms heartbeat QTimer in each phase, and peak RSS. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_folder(n: int, size: int) -> Path:
    """N distinct small PNGs (a few shapes on noise), written once and reused."""
    import cv2
    import numpy as np

    folder = Path(tempfile.gettempdir()) / f"rnx-stress-{n}-{size}"
    marker = folder / ".complete"
    if marker.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    for i in range(n):
        img = np.roll(base, i % size, axis=1).copy()
        c = (int(rng.integers(8, size - 8)), int(rng.integers(8, size - 8)))
        cv2.circle(img, c, int(rng.integers(4, size // 4)), (255, 255, 255), -1)
        ok, buf = cv2.imencode(".png", img)
        (folder / f"img_{i:06d}.png").write_bytes(buf.tobytes())
    marker.write_text("ok")
    return folder


class Heartbeat:
    """Longest gap between ticks of a GUI-thread QTimer = the longest time the GUI was frozen."""

    def __init__(self, tick_ms: int = 5) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self._tick)
        self.worst = 0.0
        self._last = time.perf_counter()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last)
        self._last = now

    def phase(self) -> None:
        self.worst = 0.0
        self._last = time.perf_counter()
        self.timer.start()

    def end(self) -> float:
        self._tick()
        self.timer.stop()
        return self.worst * 1000.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--prelabel", type=int, default=200)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("RNXSTUDIO_HOME", tempfile.mkdtemp(prefix="rnx-stress-home-"))
    os.environ.setdefault("RNXSTUDIO_NO_DOWNLOAD", "1")

    t = time.perf_counter()
    folder = make_folder(args.n, args.size)
    print(f"folder            {args.n} images of {args.size}px at {folder} ({time.perf_counter() - t:.1f} s)")

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from rnxstudio.ui.app import make_app
    from rnxstudio.ui.main_window import MainWindow

    app = make_app()
    settings = QSettings(str(Path(os.environ["RNXSTUDIO_HOME"]) / "stress.ini"), QSettings.IniFormat)
    w = MainWindow(settings=settings)
    w.show()
    hb = Heartbeat()

    def pump_until(cond, timeout: float) -> bool:
        end = time.perf_counter() + timeout
        while not cond():
            app.processEvents()
            if time.perf_counter() > end:
                return False
            time.sleep(0.001)
        return True

    # 1. open + first image (first open builds the project: a scan, no decoding)
    hb.phase()
    t = time.perf_counter()
    assert w.open_path(folder)
    opened = time.perf_counter() - t
    pump_until(lambda: w.canvas.image_size() is not None, 60)
    first = time.perf_counter() - t
    print(f"open              {opened:.2f} s to list {len(w.controller.files.ids())} images; "
          f"first image shown after {first:.2f} s; worst stall {hb.end():.0f} ms")

    # 2. scroll the whole list page by page (rows fetched from the store in pages)
    view = w.file_view
    rows = w.controller.files.rowCount()
    page = max(1, view.viewport().height() // max(1, view.sizeHintForRow(0)))
    hb.phase()
    t = time.perf_counter()
    for row in range(0, rows, page):
        view.scrollTo(w.controller.files.index(row))
        view.viewport().repaint()
        app.processEvents()
    scroll = time.perf_counter() - t
    print(f"scroll list       {rows} rows in {rows // page + 1} pages: {scroll:.2f} s "
          f"({scroll / (rows // page + 1) * 1000:.2f} ms/page); worst stall {hb.end():.0f} ms")

    # 3. step through 300 images with the next key (decode off-thread, prefetch)
    hb.phase()
    t = time.perf_counter()
    steps = 300
    for _ in range(steps):
        target = w.controller.files.id_at((w.controller.current_row or 0) + 1)
        w.controller.step(+1)
        pump_until(lambda: w.controller.cache.get(target) is not None, 10)
    step_s = time.perf_counter() - t
    print(f"step images       {steps} next-image steps: {step_s / steps * 1000:.1f} ms each; worst stall {hb.end():.0f} ms")

    # 4. pre-label N images with the tiny model (random weights) in the background
    from rnxstudio.ui.models import ModelChoice

    pre = w.features.prelabel
    hb.phase()
    t = time.perf_counter()
    pre.load(ModelChoice(zoo_name="resnext_tiny_fpn", pretrained_backbone=False, device="cpu"))
    pump_until(lambda: pre.models.loaded, 300)
    load_s = time.perf_counter() - t
    print(f"model load        {load_s:.2f} s; worst stall {hb.end():.0f} ms")
    rows_sel = range(min(args.prelabel, rows))
    sel = view.selectionModel()
    sel.clearSelection()
    for r in rows_sel:
        sel.select(w.controller.files.index(r), sel.SelectionFlag.Select)
    finished = []
    pre.client.batch_finished.connect(lambda *a: finished.append(a))
    hb.phase()
    t = time.perf_counter()
    n = pre.prelabel_many("selected", selected=[w.controller.files.id_at(r) for r in rows_sel])
    pump_until(lambda: bool(finished), 1800)
    pl = time.perf_counter() - t
    print(f"pre-label         {n} images in {pl:.1f} s ({n / pl:.1f} images/s); worst stall {hb.end():.0f} ms")

    t = time.perf_counter()
    w.close()
    print(f"close             {time.perf_counter() - t:.2f} s")
    print(f"peak RSS          {peak_rss_mb():.0f} MB")
    QApplication.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
