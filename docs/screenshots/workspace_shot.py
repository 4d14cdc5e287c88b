"""Screenshot of the main window on the demo project: the image list with statuses, a
verified image with its boxes (one selected, showing its handles), the Classes dock and the
status bar. Optionally pre-labels with a checkpoint first (dashed predicted boxes).

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/workspace_shot.py \
        [--checkpoint runs/x/model_best.safetensors] [--image 13] [--out docs/screenshot.png]

Uses a private RNXSTUDIO_HOME unless one is set, so the user's own demo project is untouched.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "screenshot.png"))
    ap.add_argument("--image", type=int, default=3, help="row of the image to show")
    ap.add_argument("--checkpoint", help="pre-label the shown image with this checkpoint")
    ap.add_argument("--score", type=float, default=0.5)
    args = ap.parse_args()
    os.environ.setdefault("RNXSTUDIO_HOME", tempfile.mkdtemp(prefix="rnx-shot-"))

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from rnxstudio.ui.app import make_app
    from rnxstudio.ui.main_window import MainWindow
    from rnxstudio.ui.models import ModelChoice

    app = make_app()
    settings = QSettings(str(Path(os.environ["RNXSTUDIO_HOME"]) / "shot.ini"), QSettings.IniFormat)
    w = MainWindow(settings=settings)
    w.resize(1500, 920)
    w.show()

    def spin(seconds: float, until=None) -> bool:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            if until is not None and until():
                return True
            time.sleep(0.01)
        return until is None

    w.open_demo()
    w.controller.go_to_row(args.image)
    spin(10, lambda: w.canvas.image_size() is not None)
    if args.checkpoint:
        w.features.classes.panel.score.setValue(int(args.score * 100))
        w.features.prelabel.load(ModelChoice(checkpoint=args.checkpoint))
        spin(300, lambda: w.features.prelabel.models.loaded)
        w.features.prelabel.prelabel_current()
        spin(120, lambda: any(b.source.value == "predicted" for b in w.canvas.boxes()))
    ids = [b.id for b in w.canvas.boxes() if b.source.value != "predicted"]
    if ids:
        w.canvas.select(ids[:1])
    spin(1.0)
    w.grab().save(args.out)
    print(f"saved {args.out}")
    w.close()
    QApplication.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
