"""Screenshot of the class-mapping step: a photo project with its own classes meets a converted
COCO model (80 classes). Person and car are proposed by name, "truck" is mapped by hand onto the
project's "vehicle" (many-to-one with "car"), the rest is ignored.

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/class_mapping_shot.py \
        [--out docs/screenshots/class_mapping.png]

(or QT_QPA_PLATFORM=offscreen). Uses a private RNXSTUDIO_HOME and a generated folder of images;
no model is loaded: the step is what pre-labelling shows before it stores the first predictions.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "class_mapping.png"))
    args = ap.parse_args()
    os.environ.setdefault("RNXSTUDIO_HOME", tempfile.mkdtemp(prefix="rnx-shot-"))

    import numpy as np
    from PySide6.QtCore import QSettings

    from rnxstudio.core import paths
    from rnxstudio.data.demo import make_shapes_dataset
    from rnxstudio.ml.predict import Detections
    from rnxstudio.ui.app import make_app
    from rnxstudio.ui.main_window import MainWindow

    coco80 = [n.strip() for n in (paths.resources_dir() / "classes" / "coco80.txt").read_text().splitlines()
              if n.strip()]
    app = make_app()
    home = Path(os.environ["RNXSTUDIO_HOME"])
    make_shapes_dataset(3, (320, 240), seed=1, out_dir=home / "street")
    (home / "street" / "annotations.json").unlink()
    w = MainWindow(settings=QSettings(str(home / "shot.ini"), QSettings.IniFormat))
    w.resize(1400, 880)
    w.show()
    w.open_path(home / "street")
    w.controller.session.category_ids_for(["person", "vehicle", "dog"])
    end = time.perf_counter() + 10
    while w.canvas.image_size() is None and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)
    det = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), coco80, (320, 240))
    pre = w.features.prelabel
    pre.models.choice = type("Choice", (), {"title": "faster_rcnn_X_101_32x8d_FPN_3x (COCO)", "checkpoint": None,
                                            "zoo_name": None})()
    pre._store_predictions(w.controller.current.id, det)
    dlg = pre.mapping_dialog
    dlg.set_choice("truck", w.controller.store.category_by_name("vehicle").id)
    dlg.set_choice("car", w.controller.store.category_by_name("vehicle").id)
    dlg.resize(560, 520)
    for _ in range(50):
        app.processEvents()
        time.sleep(0.01)
    dlg.grab().save(args.out)
    print(f"wrote {args.out}")
    dlg.reject()
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
