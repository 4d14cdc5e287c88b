"""Compare weight averages inside one shapes-benchmark run (not a test).

    python3 tests/perf/ema_sweep.py --steps 1800 [--seed 0] [--horizons 0.05,0.1,0.2]
        [--at 0.7,0.85,1.0] [--set KEY=VALUE ...] [--json out.json]

Trains the shapes benchmark's data and recipe (``bench shapes``: 400 train / 40 val scenes of
seed 2026, the CPU defaults plus ``--set``) for a fixed number of steps, keeps one extra
:class:`~rnxstudio.ml.weight_average.WeightAverage` per horizon next to the live weights, and at
the given fractions of the run scores the live weights and every average on the validation
scenes. All variants share one training trajectory, so their differences are the averages'
alone; run several seeds to see the spread between trajectories.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rnxstudio.data.demo import make_shapes_dataset
from rnxstudio.ml import train as train_mod
from rnxstudio.ml import train_state as ts
from rnxstudio.ml.train import TrainConfig
from rnxstudio.ml.train_config import cpu_defaults, parse_overrides
from rnxstudio.ml.weight_average import WeightAverage, averaged


def _score(tr, wa=None) -> dict:
    with averaged(wa, tr.model):
        train_mod._set_eval_sizes(tr)
        res = ts.run_validation(tr.model, tr.val_ds, tr.val_idx, tr.data, tr.device, tr.ctx, batch_size=4)
        train_mod._set_train_sizes(tr)
    return {"AP": res.metrics["AP"], "AP50": res.metrics["AP50"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0, help="training seed (the data is the benchmark's)")
    ap.add_argument("--horizons", default="0.05,0.1,0.2")
    ap.add_argument("--at", default="0.7,0.85,1.0", help="fractions of the run at which to score")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json")
    args = ap.parse_args()
    horizons = [float(h) for h in args.horizons.split(",") if h]
    at = sorted({max(1, round(float(f) * args.steps)) for f in args.at.split(",") if f})
    kw = {**cpu_defaults(pretrained=False), **parse_overrides(args.set)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "shapes"
        make_shapes_dataset(440, 256, seed=2026, out_dir=data)
        cfg = TrainConfig(out_dir=Path(tmp) / "run", coco=data / "annotations.json", pretrained_backbone=False,
                          max_steps=args.steps, val_split=40 / 440, eval_every=10_000, seed=args.seed, device="cpu",
                          **kw)
        print("recipe: " + ", ".join(f"{k}={v}" for k, v in kw.items()), f"seed={args.seed}", flush=True)
        tr = train_mod._Trainer(cfg)
        extra = {h: WeightAverage(h) for h in horizons}
        t0 = time.monotonic()
        gen = train_mod._run(tr)
        try:
            for p in gen:
                if p.kind != "step" or not p.losses:
                    continue
                for wa in extra.values():
                    wa.update(tr.model, tr.total_steps)
                if p.step in at:
                    row = {"step": p.step, "minutes": round((time.monotonic() - t0) / 60, 2),
                           "live": _score(tr)} | {f"ema{h:g}": _score(tr, wa) for h, wa in extra.items()}
                    rows.append(row)
                    print(f"step {p.step}: " + "  ".join(f"{k} {v['AP50']:.3f}/{v['AP']:.3f}"
                                                         for k, v in row.items() if isinstance(v, dict)), flush=True)
                    if p.step >= args.steps:
                        break
        finally:
            gen.close()
    if args.json:
        Path(args.json).write_text(json.dumps({"seed": args.seed, "steps": args.steps, "recipe": kw, "rows": rows},
                                              indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
