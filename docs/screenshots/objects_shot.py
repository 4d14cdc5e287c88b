"""Screenshot of the Objects dock beside the canvas on the demo project: the image's boxes with
class, score and source, a prediction among them, one box selected from the list.

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/objects_shot.py \
        [--out docs/screenshots/objects.png]

Uses a private RNXSTUDIO_HOME unless one is set, so the user's own demo project is untouched.
The prediction is placed through the session (as a model run would), so no model is needed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "objects.png"))
    ap.add_argument("--image", type=int, default=3, help="row of the image to show")
    args = ap.parse_args()
    os.environ.setdefault("RNXSTUDIO_HOME", tempfile.mkdtemp(prefix="rnx-shot-"))

    from PySide6.QtCore import QSettings

    from rnxstudio.core.model import Box, BoxSource
    from rnxstudio.ui.app import make_app
    from rnxstudio.ui.main_window import MainWindow

    app = make_app()
    w = MainWindow(settings=QSettings(str(Path(os.environ["RNXSTUDIO_HOME"]) / "shot.ini"), QSettings.IniFormat))
    w.resize(1300, 780)
    w.show()

    def spin(seconds: float, until=None) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end and not (until is not None and until()):
            app.processEvents()
            time.sleep(0.01)

    w.open_demo()
    w.controller.go_to_row(args.image)
    spin(10, lambda: w.canvas.image_size() is not None)
    rec, session = w.controller.current, w.controller.session
    boxes = session.store.boxes(rec.id)
    first = boxes[0]
    dx = min(30.0, rec.width - first.x2)  # a prediction beside the first object
    session.set_predictions(rec.id, [Box(first.x1 + dx, first.y1 + 8, first.x2 + dx, first.y2 + 8,
                                         category_id=first.category_id, image_id=rec.id,
                                         source=BoxSource.PREDICTED, score=0.87)], model_name="demo")
    objects = w.features.objects
    objects.dock.raise_()
    w.canvas.select([boxes[-1].id])
    spin(1.0)
    w.grab().save(args.out)
    print("wrote", args.out)
    w.ask_before_quit = False
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
