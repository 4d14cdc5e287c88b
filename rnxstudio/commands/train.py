"""`rnxstudio train`: fine-tune a detector on a COCO export (also under torchrun).

    rnxstudio train --coco labels.json --images DIR --model NAME_OR_CKPT --out DIR
                    [--epochs N | --minutes M] [--batch B] [--lr LR] [--size S] ...
    torchrun --nproc_per_node=2 -m rnxstudio train ...   (DDP: gloo on CPU, NCCL on GPU)

Options left out take the recommended values for the device (see
``rnxstudio.ml.train_config.recommended_config``).
"""

from __future__ import annotations

import argparse
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--coco", help="COCO JSON with the labels (e.g. from `rnxstudio export`)")
    parser.add_argument("--images", help="image root the COCO file names are relative to (default: its folder)")
    parser.add_argument("--model", help="zoo model name or checkpoint file to start from (default per device)")
    parser.add_argument("--out", required=True, help="output folder for checkpoints")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, help="number of epochs (default 12)")
    length.add_argument("--minutes", type=float, help="wall-clock budget; the step count is planned after timing")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    parser.add_argument("--batch", type=int, help="images per step per process")
    parser.add_argument("--lr", type=float, help="learning rate (default: per-16-images rate scaled by batch)")
    parser.add_argument("--optimizer", choices=("sgd", "adamw"))
    parser.add_argument("--schedule", choices=("cosine", "step"))
    parser.add_argument("--size", type=int, help="shorter image side in training/eval (min_size)")
    parser.add_argument("--max-size", type=int, help="longer side limit")
    parser.add_argument("--trainable-layers", type=int, choices=range(6), metavar="K",
                        help="backbone stages to train, 0-5 (default: all from random init, fewer on CPU)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    parser.add_argument("--resume", help="a checkpoint of an interrupted run (needs its .train.pt next to it)")
    parser.add_argument("--val-split", type=float, default=0.2, help="fraction held out for validation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pretrained", action="store_true", help="do not look for ImageNet backbone weights")
    parser.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    parser.add_argument("--log-every", type=int, default=10, help="print a progress line every N steps")
    parser.add_argument("--checkpoint-every", type=float, default=10.0, metavar="MIN",
                        help="write the resumable <name>_last checkpoint at most once per MIN minutes during "
                             "the run (default 10; 0: only at the end or on interrupt). Only <name>_best and "
                             "<name>_last are kept")
    parser.add_argument("--name", default="model", help="checkpoint file name prefix")


def _fmt_s(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def build_config(args: argparse.Namespace):
    """The TrainConfig for parsed arguments (device defaults filled in)."""
    from rnxstudio.ml.train_config import TrainConfig, recommended_config
    from rnxstudio.ml.train_state import resolve_device

    device = resolve_device(args.device, int(os.environ.get("LOCAL_RANK", "0")))
    rec = recommended_config(str(device), pretrained=not args.no_pretrained)
    pick = {
        "model": args.model, "batch_size": args.batch, "optimizer": args.optimizer, "schedule": args.schedule,
        "size": args.size, "max_size": args.max_size, "trainable_layers": args.trainable_layers,
    }
    kw = {k: v for k, v in rec.items() if k not in pick or pick[k] is None}
    if args.model is not None and args.size is None:  # the chosen model's own size, unless asked
        kw.pop("size", None)
        kw.pop("max_size", None)
    if args.optimizer is not None and args.lr is None:
        kw.pop("lr_per_16", None)
    kw.update({k: v for k, v in pick.items() if v is not None})
    if args.coco is None and args.resume is None:
        from rnxstudio.commands import CliError

        raise CliError("--coco is required (the labels to train on)")
    return TrainConfig(
        out_dir=args.out, coco=args.coco, images=args.images, epochs=args.epochs, minutes=args.minutes,
        max_steps=args.max_steps, lr=args.lr, device=str(device) if device.type != "cuda" else "auto",
        resume=args.resume, val_split=args.val_split, seed=args.seed, pretrained_backbone=not args.no_pretrained,
        amp=False if args.no_amp else None, name=args.name,
        checkpoint_every_min=args.checkpoint_every if args.checkpoint_every and args.checkpoint_every > 0 else None,
        **kw,
    )


def run(args: argparse.Namespace) -> int:
    from rnxstudio.commands import CliError
    from rnxstudio.ml.train import TrainingError, finetune

    if args.coco is None:
        raise CliError("--coco is required (the labels to train on)")
    cfg = build_config(args)
    main = int(os.environ.get("RANK", "0")) == 0
    gen = finetune(cfg)
    try:
        while True:
            p = next(gen)
            if not main:
                continue
            if p.kind == "step":
                if p.message:
                    print(f"step {p.step}: {p.message}", flush=True)
                if p.losses and (p.step % max(1, args.log_every) == 0 or p.step == 1 or p.step == p.total_steps):
                    terms = " ".join(f"{k.replace('loss_', '')} {v:.3f}" for k, v in p.losses.items())
                    total = p.total_steps or "?"
                    print(f"step {p.step}/{total} epoch {p.epoch + 1} loss {p.loss:.3f} ({terms}) lr {p.lr:.3g} "
                          f"{p.images_per_s:.1f} img/s eta {_fmt_s(p.eta_s)}", flush=True)
            else:
                print(p.message, flush=True)
                if p.kind == "checkpoint" and p.eval is not None and p.step == p.total_steps:
                    print(p.eval.format_table(), flush=True)
    except StopIteration as stop:
        if main:
            print(f"checkpoint: {stop.value}")
        return 0
    except TrainingError as exc:
        raise CliError(str(exc)) from exc
    except KeyboardInterrupt:
        gen.close()  # leaves a resumable checkpoint
        print(f"interrupted; resume with --resume {cfg.out_dir}/{cfg.name}_last.safetensors", file=sys.stderr)
        return 130
