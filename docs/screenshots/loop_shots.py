"""The README's screenshots of the loop on the demo, taken from the real app (not a test).

    xvfb-run -a -s "-screen 0 1280x800x24" python3 docs/screenshots/loop_shots.py --out docs/screenshots

On a fresh RNXSTUDIO_HOME: the window with no project (the "Next steps" dock), then the demo
project (opened with the shipped ``demo`` detector selected) after Pre-label All — the known
shapes are found, ``cross`` is not; one image corrected (predictions accepted, the crosses drawn
with the ``cross`` class, verified); the fine-tune with the dialog's default options and the
app's before/after table; and the same kind of image pre-labelled by the new model. Each step
goes through the window's own actions and features (what a key press would call); the screen is
grabbed from the X server, so dialogs show as a user sees them (and reduced to 256 colours with
ImageMagick's ``convert`` when it is installed, to keep the README light). Prints the minutes the fine-tune
took and the before/after table. Run it under the heavy lock (it trains for a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--width", type=int, default=960, help="width of the saved PNGs (the screen is scaled down)")
    ap.add_argument("--json", help="write the fine-tune's minutes and before/after table here")
    ap.add_argument("--stop-before-finetune", action="store_true", help="a quick dry run of the first shots")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="rnx-shots-"))
    os.environ["RNXSTUDIO_HOME"] = str(tmp / "home")
    os.environ["RNXSTUDIO_NO_DOWNLOAD"] = "1"

    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtGui import QGuiApplication

    from rnxstudio.core.model import BoxSource, ImageStatus
    from rnxstudio.ui.app import make_app
    from rnxstudio.ui.main_window import MainWindow

    app = make_app()
    window = MainWindow(settings=QSettings(str(tmp / "settings.ini"), QSettings.IniFormat))
    window.resize(1280, 800)
    window.move(0, 0)
    window.show()

    def pump(ms: int = 300) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait(cond, what: str, limit_s: float = 900) -> None:
        t0 = time.monotonic()
        while not cond():
            if time.monotonic() - t0 > limit_s:
                raise SystemExit(f"timed out waiting for {what}")
            pump(100)

    def shot(name: str) -> None:
        pump(600)
        img = QGuiApplication.primaryScreen().grabWindow(0).toImage()
        img = img.copy(0, 0, 1280, 800).scaledToWidth(args.width, Qt.SmoothTransformation)
        img.save(str(out / name), "PNG", 0)  # 0: smallest file
        if shutil.which("convert"):  # ImageMagick: 256 colours, no dither: a quarter of the size
            subprocess.run(["convert", str(out / name), "+dither", "-colors", "256", "-strip", str(out / name)],
                           check=True)
        print(f"wrote {out / name} ({(out / name).stat().st_size // 1024} KB)", flush=True)

    pre, training, editing = window.features.prelabel, window.features.training.controller, window.features.editing
    models, nav = window.ctx.models, window.controller
    wait(lambda: window.features.next_steps.dock.isVisible(), "the empty state")
    shot("0-empty-state.png")

    # 1. the demo opens with its model; pre-label every unlabelled image
    assert window.open_demo()
    wait(lambda: models.loaded, "the demo model")
    store = nav.store
    truth = json.loads((Path(nav.source_path) / "annotations.json").read_text())
    cross_id = next(c["id"] for c in truth["categories"] if c["name"] == "cross")
    by_name = {im["file_name"]: im["id"] for im in truth["images"]}
    todo = store.image_ids(status=ImageStatus.UNLABELED)
    done = []
    pre.client.batch_finished.connect(lambda *a: done.append(a))
    assert pre.prelabel_many("unlabeled") == len(todo)
    wait(lambda: done, "pre-label all")

    def crosses(image_id):
        rec = store.image(image_id)
        gid = by_name[Path(rec.path).name]
        return [a for a in truth["annotations"] if a["image_id"] == gid and a["category_id"] == cross_id]

    def others(image_id):
        rec = store.image(image_id)
        gid = by_name[Path(rec.path).name]
        return [a for a in truth["annotations"] if a["image_id"] == gid and a["category_id"] != cross_id]

    showcase = [i for i in todo if len(crosses(i)) >= 2 and len(others(i)) >= 2]
    first, later = showcase[0], showcase[1]
    nav.set_current(first)
    wait(lambda: nav.current is not None and nav.current.id == first and window.canvas.image_size(), "the image")
    window.canvas.fit()
    shot("1-prelabel.png")

    # 2. correct: a cross the model called something else gets the cross class (E), the rest is
    # accepted (Return), a cross it missed is drawn (W); then verify
    cid = next(c.id for c in store.categories() if c.name == "cross")
    shown = [b for b in store.boxes(first) if b.source == BoxSource.PREDICTED
             and (b.score or 0) >= window.features.classes.threshold]
    drawn = []
    for a in crosses(first):
        x, y, w, h = a["bbox"]
        hit = [b for b in shown if _iou((x, y, x + w, y + h), (b.x1, b.y1, b.x2, b.y2)) >= 0.5]
        if hit:
            editing.change_class([hit[0].id], cid)
        else:
            drawn.append((x, y, x + w, y + h))
    editing.accept([b.id for b in shown])
    window.features.classes.panel.select_id(cid)
    for xyxy in drawn:
        editing.add_box(xyxy)
    shot("2-correct.png")
    window.actions_by_id["verify_next"].trigger()
    pump(500)
    if args.stop_before_finetune:
        window.close()
        return 0

    # 3. fine-tune with the dialog's default options; the app's before/after table
    opts = training.default_options()
    print(f"fine-tune defaults: base {opts.base}, epochs {opts.epochs}, size {opts.size}, "
          f"trainable {opts.trainable_layers}, batch {opts.batch_size}", flush=True)
    results = []
    training.results_ready.connect(results.append)
    t0 = time.monotonic()
    finished = []
    training.run_finished.connect(lambda p: finished.append(time.monotonic()))
    assert training.start_run(opts)
    wait(lambda: finished, "the fine-tune", limit_s=1800)
    train_min = (finished[0] - t0) / 60
    wait(lambda: results, "the before/after table")
    dlg = results[0]
    dlg.move(300, 120)
    shot("3-finetune.png")
    rows = [[dlg.cell(r, c) for c in range(dlg.table.columnCount())] for r in range(dlg.table.rowCount())]
    header = [dlg.table.horizontalHeaderItem(c).text() for c in range(dlg.table.columnCount())]
    print(f"fine-tune: {train_min:.2f} min until the checkpoint, {(time.monotonic() - t0) / 60:.2f} min with the "
          "before/after evaluation", flush=True)
    print(" | ".join(header))
    for r in rows:
        print(" | ".join(r))

    # 4. the new model pre-labels the next image with crosses
    swapped = []
    models.changed.connect(swapped.append)
    dlg.use_buttons["new"].click()
    wait(lambda: swapped, "the new model")
    dlg.close()
    nav.set_current(later)
    wait(lambda: nav.current is not None and nav.current.id == later and window.canvas.image_size(), "the image")
    got = []
    pre.result.connect(got.append)
    assert pre.prelabel_current()
    wait(lambda: later in got, "the new pre-labels")
    window.canvas.fit()
    shot("4-better-prelabels.png")
    names = {c.id: c.name for c in store.categories()}
    found = sorted(names[b.category_id] for b in store.boxes(later) if b.source == BoxSource.PREDICTED
                   and (b.score or 0) >= window.features.classes.threshold)
    print(f"new model on an unverified image with {len(crosses(later))} crosses: shows {found}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"train_minutes": train_min, "header": header, "rows": rows,
                                               "later_found": found}, indent=1))
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
