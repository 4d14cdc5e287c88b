"""`rnxstudio bench shapes`: the shapes benchmark — train from random init on the demo generator's
scenes with the app's CPU defaults (:func:`rnxstudio.ml.train_config.cpu_defaults`) inside a
wall-clock budget, and print validation AP / AP50 against elapsed minutes.

Target (issue 7): AP50 >= 0.90 within 10 minutes on a 2-core CPU. The figures depend on how busy
the machine is; the torch thread count and the time per step are printed with them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget for training")
    parser.add_argument("--steps", type=int,
                        help="a step budget instead of --minutes (device-independent recipe comparisons: "
                             "the schedule spans exactly this many steps)")
    parser.add_argument("--train-images", type=int, default=400)
    parser.add_argument("--val-images", type=int, default=40)
    parser.add_argument("--image-size", type=int, default=256, help="scene size of the generated images")
    parser.add_argument("--eval-every", type=int, default=2, help="evaluate every N epochs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="budget in wall-clock time, or in process CPU time / torch threads (the same "
                             "compute as that many minutes on otherwise idle cores; for shared machines)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--out", help="keep checkpoints here (default: a temporary folder)")
    parser.add_argument("--json", help="write the AP-vs-time table as JSON")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a TrainConfig field of the CPU defaults (e.g. --set size=320 --set lr=0.002)")


def run(args: argparse.Namespace) -> int:
    import torch

    from rnxstudio.data.demo import make_shapes_dataset
    from rnxstudio.ml.train import TrainConfig, finetune
    from rnxstudio.ml.train_config import cpu_defaults, parse_overrides

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    clock = time.monotonic if args.clock == "wall" else (lambda: time.process_time() / threads)
    n = args.train_images + args.val_images
    overrides = parse_overrides(args.set)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "shapes"
        out = Path(args.out) if args.out else Path(tmp) / "run"
        make_shapes_dataset(n, args.image_size, seed=2026, out_dir=data)
        kw = {**cpu_defaults(pretrained=False), **overrides}
        cfg = TrainConfig(out_dir=out, coco=data / "annotations.json", pretrained_backbone=False,
                          minutes=None if args.steps else args.minutes, max_steps=args.steps, val_split=args.val_images / n, eval_every=args.eval_every,
                          eval_share=None,  # the learning curve at --eval-every is what this bench reports
                          device=args.device, clock=clock, **kw)
        print(f"bench shapes: {n} scenes {args.image_size}px ({args.train_images} train / {args.val_images} val), "
              f"budget {f'{args.steps} steps' if args.steps else f'{args.minutes:g} min'} ({args.clock} clock), torch threads {threads}", flush=True)
        print("recipe: " + ", ".join(f"{k}={v}" for k, v in kw.items()), flush=True)
        t0 = clock()
        w0 = time.monotonic()
        rows = []
        last_step_s = 0.0
        for p in finetune(cfg):
            if p.kind == "start":
                print(p.message, flush=True)
            elif p.kind == "step":
                if p.images_per_s:
                    last_step_s = cfg.batch_size / p.images_per_s
                if p.message:
                    print(f"step {p.step}: {p.message}", flush=True)
                if p.step % 50 == 0:
                    print(f"step {p.step}/{p.total_steps} loss {p.loss:.3f} lr {p.lr:.2e} "
                          f"{p.images_per_s:.1f} img/s", flush=True)
            elif p.kind == "checkpoint" and p.eval is not None:
                minutes = (clock() - t0) / 60
                ap, ap50 = p.eval.metrics["AP"] or 0.0, p.eval.metrics["AP50"] or 0.0
                rows.append({"minutes": round(minutes, 2), "wall_minutes": round((time.monotonic() - w0) / 60, 2), "step": p.step, "epoch": p.epoch, "AP": ap, "AP50": ap50})
                print(f"{minutes:6.2f} min  step {p.step:5d}  epoch {p.epoch:3d}  val AP {ap:.3f}  AP50 {ap50:.3f}",
                      flush=True)
            elif p.kind == "done":
                print(p.message, flush=True)
        total = (clock() - t0) / 60
        wall = (time.monotonic() - w0) / 60
        best = max(rows, key=lambda r: r["AP50"]) if rows else None
        print(f"total {total:.2f} min on the {args.clock} clock ({wall:.2f} min wall), last step {last_step_s:.2f} s")
        if best:
            print(f"best val AP {best['AP']:.3f}  AP50 {best['AP50']:.3f} at {best['minutes']:.2f} min "
                  f"(target AP50 >= 0.90 within 10 min)")
        if args.json:
            Path(args.json).write_text(json.dumps({"rows": rows, "recipe": kw, "total_minutes": total}, indent=1))
    return 0
