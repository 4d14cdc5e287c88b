"""``rnxstudio predict --model demo`` on shapes scenes the demo model never saw, scored with
pycocotools against the generator's ground truth (not a test; tests/unit/test_demo_model.py
checks a small version).

    python3 tests/perf/demo_predict_ap.py [--images 200] [--seed 424243] [--size 256]

Runs the real CLI in a child process on a fresh, empty RNXSTUDIO_HOME with downloads refused,
so it shows what a new user gets offline. Prints AP, AP50 and per-class AP50.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--seed", type=int, default=424243, help="a seed the demo model's data and the demo project do not use")
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args(argv)

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from rnxstudio.data.demo import make_shapes_dataset
    from rnxstudio.ml.demo_model import TEST_DATA_SEED, TRAIN_DATA_SEED

    if args.seed in (TEST_DATA_SEED, TRAIN_DATA_SEED):
        ap.error(f"seed {args.seed} is one the demo model was trained or tested on")
    with tempfile.TemporaryDirectory() as tmp:
        home, data, out = Path(tmp) / "home", Path(tmp) / "scenes", Path(tmp) / "preds.json"
        home.mkdir()
        make_shapes_dataset(args.images, args.size, seed=args.seed, out_dir=data)
        env = {**os.environ, "RNXSTUDIO_HOME": str(home), "RNXSTUDIO_NO_DOWNLOAD": "1"}
        cmd = [sys.executable, "-m", "rnxstudio", "predict", str(data), "--model", "demo", "--coco",
               str(data / "annotations.json"), "--out", str(out), "--device", "cpu", "--no-progress"]
        t0 = time.monotonic()
        subprocess.run(cmd, env=env, check=True)
        seconds = time.monotonic() - t0
        gt = COCO(str(data / "annotations.json"))
        ev = COCOeval(gt, gt.loadRes(str(out)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        per_class = {}
        for k, cat in enumerate(ev.params.catIds):
            p = ev.eval["precision"][0, :, k, 0, -1]  # IoU 0.5, all areas, 100 detections
            per_class[gt.cats[cat]["name"]] = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
    print(f"demo model on {args.images} new scenes ({args.size} px, seed {args.seed}), fresh home, offline: "
          f"AP {ev.stats[0]:.3f}  AP50 {ev.stats[1]:.3f}  (predict took {seconds:.0f} s)")
    print("AP50 per class: " + ", ".join(f"{k} {v:.3f}" for k, v in per_class.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
