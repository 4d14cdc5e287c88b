"""`rnxstudio bench inspect`: what the inspector costs (prints figures, asserts nothing).

Per model and image size: eager forward without hooks, the same forward with full feature
capture (inspect_image), the size of the captured maps, heatmap rendering per stage (reduce +
map to the image + colour), one Grad-CAM, and the architecture table (meta tensors).
"""

from __future__ import annotations

import argparse
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="resnext50_32x4d_fpn", help="zoo model (random weights; default %(default)s)")
    parser.add_argument("--size", type=int, default=800, help="short side of the test image (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="timed repetitions, best is reported")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--stage", default="res4", help="Grad-CAM stage (default %(default)s)")


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from rnxstudio.data.demo import make_scene
    from rnxstudio.ml.introspect import heatmap as hm
    from rnxstudio.ml.introspect.archtable import arch_table
    from rnxstudio.ml.introspect.gradcam import gradcam
    from rnxstudio.ml.introspect.hooks import inspect_image
    from rnxstudio.ml.tensors import image_to_tensor
    from rnxstudio.ml.zoo import build_model

    h, w = args.size, int(round(args.size * 4 / 3))
    rgb, objects = make_scene(np.random.default_rng(0), w, h, 4)
    torch.manual_seed(0)
    built = build_model(args.model, num_classes=5, pretrained_backbone=False, min_size=args.size,
                        max_size=max(1333, w), allow_download=False)
    model = built.model.to(args.device).eval()
    x = image_to_tensor(rgb, device=args.device)
    print(f"model {args.model}, image {h}x{w}, device {args.device}, torch threads {torch.get_num_threads()}")

    def plain() -> None:
        with torch.inference_mode():
            model([x])

    plain()  # warm-up
    t_plain = _best(plain, args.repeats)
    box = objects[0][1] if objects else (10, 10, 60, 60)
    res = inspect_image(built, rgb, device=args.device)
    t_cap = _best(lambda: inspect_image(built, rgb, device=args.device), args.repeats)
    mb = sum(fm.data.nbytes for fm in res.features.values()) / 2**20
    print(f"forward, no hooks:             {t_plain * 1000:8.0f} ms")
    print(f"forward + capture (all maps):  {t_cap * 1000:8.0f} ms  (+{(t_cap / t_plain - 1) * 100:.0f}%), "
          f"{len(res.features)} maps, {mb:.0f} MiB")
    for name, fm in res.features.items():
        t = _best(lambda fm=fm: hm.colorize(hm.stage_heatmap(fm.data, fm.stride, res.scale, res.original_size)), 3)
        print(f"  heatmap {name:7s} {fm.shape[0]:4d}x{fm.shape[1]:3d}x{fm.shape[2]:3d}: {t * 1000:6.1f} ms")
    t_gc = _best(lambda: gradcam(built, rgb, box, 1, stage=args.stage, device=args.device), args.repeats)
    print(f"Grad-CAM at {args.stage}:              {t_gc * 1000:8.0f} ms")
    t_arch = _best(lambda: arch_table(built, (h, w)), args.repeats)
    print(f"architecture table (meta):     {t_arch * 1000:8.0f} ms")
    return 0
