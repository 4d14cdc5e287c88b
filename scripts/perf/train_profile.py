"""Profile a few of our trainer's steps (not a test): where does a training step's time go?

    python3 scripts/perf/train_profile.py [--device cuda] [--model resnext50_32x4d_fpn] [--size 640]
        [--batch 8] [--steps 6] [--set KEY=VALUE ...]

Runs ``finetune`` on generated shapes scenes under ``torch.profiler`` (after two warm-up steps)
and prints the operators with the most self time on the host and, on CUDA, on the device.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from rnxstudio.data.demo import make_shapes_dataset
from rnxstudio.ml.train import TrainConfig, finetune
from rnxstudio.ml.train_config import parse_overrides


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="resnext_tiny_fpn")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rows", type=int, default=18)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    overrides = parse_overrides(args.set)
    warm = 2
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_shapes_dataset(2 * args.batch, args.size, seed=3, out_dir=data)
        cfg = TrainConfig(out_dir=Path(tmp) / "run", coco=data / "annotations.json", model=args.model,
                          pretrained_backbone=False, batch_size=args.batch, size=args.size,
                          max_size=int(args.size * 1.5), scale_jitter=False, optimizer="sgd", lr=0.001,
                          val_split=0.0, device=args.device, max_steps=warm + args.steps, **overrides)
        cuda = args.device.startswith("cuda")
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        gen = finetune(cfg)
        prof = profile(activities=acts)
        for p in gen:
            if p.kind == "step" and p.step == warm:
                if cuda:
                    torch.cuda.synchronize()
                prof.__enter__()
            if p.kind == "step" and p.step == warm + args.steps:
                if cuda:
                    torch.cuda.synchronize()
                prof.__exit__(None, None, None)
        key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
        if cuda:
            print(prof.key_averages().table(sort_by=key, row_limit=args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
