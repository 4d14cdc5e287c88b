"""`rnxstudio bench canvas`: how fast the canvas shows and repaints a large image with boxes.

Prints figures only (no pass/fail). Uses the offscreen Qt platform unless --show is given, so
it measures the raster painting work itself; a real display adds the compositor on top.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--boxes", type=int, default=200, help="boxes drawn on the image")
    parser.add_argument("--repeats", type=int, default=15, help="repaints per measurement")
    parser.add_argument("--view", default="1280x800", help="canvas size WxH in pixels")
    parser.add_argument("--show", action="store_true", help="use the real display instead of offscreen")


def _ms(samples: list[float]) -> str:
    ms = sorted(s * 1000.0 for s in samples)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms"


def run(args: argparse.Namespace) -> int:
    if not args.show:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from rnxstudio.core.model import Box, BoxSource, Category
    from rnxstudio.ui.canvas import ImageCanvas, view

    app = QApplication.instance() or QApplication([])
    vw, vh = (int(v) for v in args.view.lower().split("x"))
    canvas = ImageCanvas()
    canvas.resize(vw, vh)
    canvas.show()
    app.processEvents()
    rng = np.random.default_rng(0)
    w, h = args.width, args.height
    # A smooth gradient plus noise: realistic enough for the scaler, cheap to make.
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), ((xx + yy) % 256)], -1).astype(np.uint8)
    rgb ^= rng.integers(0, 32, (h, w, 1), dtype=np.uint8)
    cats = {i: Category(i, f"class{i}", color) for i, color in enumerate(("#e6194b", "#3cb44b", "#4363d8", "#f58231"), 1)}
    boxes = []
    for i in range(args.boxes):
        x1, y1 = float(rng.uniform(0, w - 60)), float(rng.uniform(0, h - 60))
        bw, bh = float(rng.uniform(20, min(600, w - x1))), float(rng.uniform(20, min(600, h - y1)))
        pred = i % 2 == 1
        boxes.append(Box(x1, y1, x1 + bw, y1 + bh, 1 + i % 4, id=i + 1,
                         source=BoxSource.PREDICTED if pred else BoxSource.MANUAL,
                         score=float(rng.uniform(0.05, 1.0)) if pred else None))

    print(f"canvas {vw}x{vh}, image {w}x{h} ({w * h / 1e6:.1f} MP), {len(boxes)} boxes, "
          f"platform {app.platformName()}")
    t_img = []
    for _ in range(3):
        t0 = time.perf_counter()
        canvas.set_image(rgb)
        t_img.append(time.perf_counter() - t0)
    print(f"set_image (QImage + QPixmap + fit):      {_ms(t_img)}")
    t0 = time.perf_counter()
    canvas.set_boxes(boxes, cats)
    print(f"set_boxes first time ({len(boxes)} items):   {(time.perf_counter() - t0) * 1000:7.2f} ms")
    moved = [b if b.id != 1 else b.with_coords(b.x1 + 5, b.y1, b.x2 + 5, b.y2) for b in boxes]
    t_upd = []
    for k in range(args.repeats):
        t0 = time.perf_counter()
        canvas.set_boxes(moved if k % 2 == 0 else boxes, cats)
        t_upd.append(time.perf_counter() - t0)
    print(f"set_boxes after one edit (items reused): {_ms(t_upd)}")

    def repaint_times() -> list[float]:
        out = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            canvas.viewport().repaint()
            out.append(time.perf_counter() - t0)
        return out

    def zoom_steps() -> list[float]:
        """A wheel notch in and out around the fit zoom: the cache is rebuilt every time."""
        canvas.fit()
        app.processEvents()
        out = []
        for k in range(args.repeats):
            t0 = time.perf_counter()
            canvas.zoom_in() if k % 2 == 0 else canvas.zoom_out()
            canvas.viewport().repaint()
            out.append(time.perf_counter() - t0)
        return out

    print(f"wheel zoom step + repaint near fit:      {_ms(zoom_steps())}")
    states = [("fit", canvas.fit), ("zoom 0.5", lambda: canvas.set_zoom(0.5)),
              ("zoom 1.0", canvas.zoom_100), ("zoom 3.0", lambda: canvas.set_zoom(3.0))]
    for name, apply in states:
        apply()
        app.processEvents()
        print(f"repaint at {name:<9} (level {canvas.displayed_level():>2}):     {_ms(repaint_times())}")
    saved = view.MAX_LEVEL
    try:
        view.MAX_LEVEL = 1  # what painting costs without the downscaled copies
        canvas.set_image(rgb)
        canvas.set_boxes(boxes, cats)
        canvas.fit()
        app.processEvents()
        print(f"repaint at fit without pyramid (level 1): {_ms(repaint_times())}")
        print(f"wheel zoom step without pyramid:         {_ms(zoom_steps())}")
    finally:
        view.MAX_LEVEL = saved
    canvas.set_image(rgb)
    canvas.set_boxes(boxes, cats)
    canvas.set_zoom(1.0)
    pans = []
    bar = canvas.horizontalScrollBar()
    for k in range(args.repeats):
        t0 = time.perf_counter()
        bar.setValue(bar.value() + (40 if k % 2 == 0 else -40))
        canvas.viewport().repaint()
        pans.append(time.perf_counter() - t0)
    print(f"pan 40 px + repaint at 100 %:            {_ms(pans)}")
    t_f = []
    for k in range(args.repeats):
        t0 = time.perf_counter()
        canvas.set_min_score(0.5 if k % 2 == 0 else 0.0)
        canvas.viewport().repaint()
        t_f.append(time.perf_counter() - t0)
    print(f"score slider change + repaint:           {_ms(t_f)}")
    canvas.fit()
    canvas.select([1])
    t_d = []
    x1, y1, x2, y2 = canvas.box_xyxy(1)
    for k in range(args.repeats):
        d = float(k % 7) * 3.0
        t0 = time.perf_counter()
        canvas.preview_box(1, (x1 + d, y1, x2 + d, y2))  # what a mouse-move during a drag does
        app.processEvents()
        t_d.append(time.perf_counter() - t0)
    print(f"box drag step (preview + paint) at fit:  {_ms(t_d)}")
    canvas.close()
    return 0
