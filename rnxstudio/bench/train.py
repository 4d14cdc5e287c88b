"""`rnxstudio bench train`: images/s of our trainer (:func:`rnxstudio.ml.train.finetune`) against a
plain torchvision reference loop — same model, data, batch size, image size, no AMP — in one run.

The reference is the loop from the torchvision detection tutorial: decode each image with PIL,
``to_tensor``, forward, backward, SGD step. Both sides are timed over the same number of steps
after the same warm-up, and run in alternating rounds so a busy machine affects both alike.
Prints figures; never asserts a speed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="resnext_tiny_fpn")
    parser.add_argument("--images", type=int, default=16, help="synthetic shapes images")
    parser.add_argument("--image-size", type=int, default=160, help="generated scene size (px)")
    parser.add_argument("--size", type=int, default=160, help="model min_size")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a TrainConfig field of our trainer (e.g. --set channels_last=false)")
    parser.add_argument("--amp", action="store_true",
                        help="our trainer with mixed precision (CUDA only; the reference loop stays fp32)")


def _sync(device: str) -> None:
    """Wait for queued GPU work, so host clocks time what ran (a no-op on the CPU)."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _reference_round(coco: dict, root: Path, args, seed: int) -> float:
    """Seconds for ``args.steps`` steps of the tutorial loop (after ``args.warmup``)."""
    import torch
    from PIL import Image
    from torchvision.transforms.functional import to_tensor

    from rnxstudio.ml.zoo import build_model

    torch.manual_seed(seed)
    built = build_model(args.model, num_classes=len(coco["categories"]), pretrained_backbone=False,
                        min_size=args.size, max_size=int(args.size * 1.5))
    model = built.model.to(args.device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.001, momentum=0.9, weight_decay=1e-4)
    anns: dict[int, list] = {}
    for a in coco["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    images = coco["images"]
    t0 = 0.0
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            _sync(args.device)
            t0 = time.perf_counter()
        batch = [images[(step * args.batch + k) % len(images)] for k in range(args.batch)]
        imgs, targets = [], []
        for im in batch:
            imgs.append(to_tensor(Image.open(root / im["file_name"]).convert("RGB")).to(args.device))
            a = anns.get(im["id"], [])
            boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (b["bbox"] for b in a)],
                                 dtype=torch.float32).reshape(-1, 4)
            labels = torch.tensor([b["category_id"] for b in a], dtype=torch.int64)
            targets.append({"boxes": boxes.to(args.device), "labels": labels.to(args.device)})
        loss = sum(model(imgs, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    _sync(args.device)
    return time.perf_counter() - t0


def _ours_round(coco_path: Path, root: Path, out: Path, args, seed: int) -> float:
    from rnxstudio.ml.train import TrainConfig, finetune

    cfg = TrainConfig(out_dir=out, coco=coco_path, images=root, model=args.model, pretrained_backbone=False,
                      batch_size=args.batch, size=args.size, max_size=int(args.size * 1.5), scale_jitter=False,
                      optimizer="sgd", lr=0.001, amp=bool(args.amp), val_split=0.0, device=args.device, seed=seed,
                      max_steps=args.warmup + args.steps,
                      # no per-epoch checkpoint inside the timed steps: with a handful of images an
                      # epoch is two steps, and saving X50 (weights + optimizer state) every two
                      # steps measured the disk, not the trainer (seen on an H200: 0.38x)
                      eval_every=10**6)
    from rnxstudio.ml.train_config import parse_overrides

    overrides = parse_overrides(args.set)
    if overrides:
        cfg = cfg.replace(**overrides)
    t0 = t1 = 0.0
    for p in finetune(cfg):
        if p.kind == "step" and p.step == args.warmup:
            _sync(args.device)
            t0 = time.perf_counter()
        if p.kind == "step" and p.step == args.warmup + args.steps:
            _sync(args.device)
            t1 = time.perf_counter()
    return t1 - t0


def run(args: argparse.Namespace) -> int:
    import torch

    from rnxstudio.data.demo import make_shapes_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        coco = make_shapes_dataset(args.images, args.image_size, seed=11, out_dir=root)
        print(f"bench train: {args.model}, {args.images} images {args.image_size}px, min_size {args.size}, "
              f"batch {args.batch}, {args.steps} timed steps x {args.rounds} rounds, device {args.device}"
              f"{' (ours with AMP)' if args.amp else ''}{' ours with ' + ' '.join(args.set) if args.set else ''}, "
              f"torch threads {torch.get_num_threads()}", flush=True)
        ref_s = ours_s = 0.0
        for r in range(args.rounds):
            ours = _ours_round(root / "annotations.json", root, Path(tmp) / f"out{r}", args, seed=r)
            ref = _reference_round(coco, root, args, seed=r)
            n = args.steps * args.batch
            print(f"round {r + 1}: ours {n / ours:.2f} img/s  reference {n / ref:.2f} img/s", flush=True)
            ref_s += ref
            ours_s += ours
        n = args.steps * args.batch * args.rounds
        print(f"trainer   {n / ours_s:.2f} img/s")
        print(f"reference {n / ref_s:.2f} img/s")
        print(f"ratio     {ref_s / ours_s:.2f} (target >= 1.0)")
    return 0
