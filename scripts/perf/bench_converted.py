"""CPU time per 800-px image of a converted X101-32x8d (detectron2 layout, random values): eager
vs the optimised path (ml.fast, "auto"), alternating runs in one process.

    flock /work/locks/heavy.lock .venv/bin/python scripts/perf/bench_converted.py [--n 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # tests/convert_files.py
from convert_files import X101_32X8D, detectron2_shapes, random_arrays, write_detectron2  # noqa: E402

from rnxstudio.ml.checkpoint import load_checkpoint  # noqa: E402
from rnxstudio.ml.convert_weights import import_weights  # noqa: E402
from rnxstudio.ml.predict import Predictor  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = write_detectron2(Path(tmp) / "x101.pkl", random_arrays(detectron2_shapes(**X101_32X8D)))
        ckpt = import_weights(src, Path(tmp) / "x101.safetensors")
        src.unlink()
        built = load_checkpoint(ckpt)
    rgb = np.random.default_rng(0).integers(0, 255, (600, 800, 3), dtype=np.uint8)  # -> 800 x 1067
    predictors = {mode: Predictor(built, device="cpu", optimize=mode) for mode in ("none", "auto")}
    times: dict[str, list[float]] = {m: [] for m in predictors}
    for mode, p in predictors.items():  # warm-up (and the optimised copy's first call)
        p.predict_prepared([p.prepare(rgb)])
    for _ in range(args.n):
        for mode, p in predictors.items():
            t0 = time.perf_counter()
            p.predict_prepared([p.prepare(rgb)])
            times[mode].append(time.perf_counter() - t0)
    eager, fast = statistics.median(times["none"]), statistics.median(times["auto"])
    print(f"converted X101-32x8d FPN, 600x800 image -> 800x1067, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"eager fp32          {eager:6.2f} s/image  (runs: {', '.join(f'{t:.2f}' for t in times['none'])})")
    print(f"optimised ({predictors['auto'].plan.describe()})  {fast:6.2f} s/image  "
          f"(runs: {', '.join(f'{t:.2f}' for t in times['auto'])})  ratio {eager / fast:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
