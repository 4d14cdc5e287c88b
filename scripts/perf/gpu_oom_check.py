"""Device check (not a test; needs CUDA): a REAL CUDA out-of-memory in the middle of fine-tuning.

    python3 scripts/perf/gpu_oom_check.py [--model resnext50_32x4d_fpn] [--size 800] [--batch 16]

The unit tests patch the step to raise ``torch.cuda.OutOfMemoryError``; this script makes the GPU
run out for real. It measures the peak memory of one AMP forward/backward at two batch sizes
(peak ~= fixed + per_image * batch), caps this process's share of the card with
``torch.cuda.set_per_process_memory_fraction`` halfway between what half the batch and the full
batch need, then fine-tunes with the full batch. Expected: the first step runs out of memory, the
trainer halves the batch (gradient accumulation keeps the step's images), says so, finishes its
steps and writes a checkpoint; then a Predictor on the same capped card still pre-labels.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

import torch  # noqa: E402

from rnxstudio.data.demo import make_shapes_dataset  # noqa: E402
from rnxstudio.data.images import load  # noqa: E402
from rnxstudio.ml.checkpoint import load_checkpoint  # noqa: E402
from rnxstudio.ml.predict import Predictor  # noqa: E402
from rnxstudio.ml.train import TrainConfig, finetune  # noqa: E402
from rnxstudio.ml.zoo import build_model  # noqa: E402

GIB = 2**30


def peak_bytes(model_name: str, size: int, batch: int) -> int:
    """Peak allocated bytes of one AMP training forward/backward at ``batch`` images."""
    built = build_model(model_name, num_classes=5, pretrained_backbone=False, min_size=size, max_size=size)
    model = built.model.cuda().train().to(memory_format=torch.channels_last)
    g = torch.Generator(device="cuda").manual_seed(0)
    imgs = [torch.rand(3, size, size, device="cuda", generator=g) for _ in range(batch)]
    box = torch.tensor([[size * 0.1, size * 0.1, size * 0.5, size * 0.6]], device="cuda")
    targets = [{"boxes": box, "labels": torch.tensor([1], device="cuda")} for _ in range(batch)]
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.autocast("cuda", dtype=torch.float16):
        loss = sum(model(imgs, targets).values())
    loss.backward()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    del model, built, imgs, targets, loss
    torch.cuda.empty_cache()
    return peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="resnext50_32x4d_fpn")
    ap.add_argument("--size", type=int, default=800)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_oom_check: no CUDA device here; nothing to check")
        return 2
    total = torch.cuda.get_device_properties(0).total_memory
    lo, hi = 2, 4
    p_lo, p_hi = peak_bytes(args.model, args.size, lo), peak_bytes(args.model, args.size, hi)
    per_image = (p_hi - p_lo) / (hi - lo)
    fixed = p_lo - lo * per_image
    half = args.batch // 2
    # optimizer state (SGD momentum: one copy of the params) and allocator slack on top
    params = sum(p.numel() * 4 for p in build_model(args.model, num_classes=5, pretrained_backbone=False)
                 .model.parameters())
    cap = fixed + 2 * params + per_image * (half + args.batch) / 2
    print(f"peak at batch {lo}: {p_lo / GIB:.2f} GiB, at batch {hi}: {p_hi / GIB:.2f} GiB -> "
          f"{per_image / GIB:.2f} GiB per image + {fixed / GIB:.2f} GiB fixed; params {params / GIB:.2f} GiB")
    print(f"cap {cap / GIB:.2f} GiB of {total / GIB:.1f} GiB (batch {args.batch} needs "
          f"~{(fixed + per_image * args.batch) / GIB:.2f}, batch {half} ~{(fixed + per_image * half) / GIB:.2f})",
          flush=True)
    torch.cuda.set_per_process_memory_fraction(cap / total, 0)

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        coco = make_shapes_dataset(args.batch, args.size, seed=5, out_dir=data)
        cfg = TrainConfig(out_dir=Path(tmp) / "run", coco=data / "annotations.json", model=args.model,
                          pretrained_backbone=False, batch_size=args.batch, size=args.size,
                          max_size=args.size, scale_jitter=False, device="cuda", max_steps=args.steps,
                          val_split=0.0, trainable_layers=5, optimizer="sgd", lr=0.001)
        messages, losses = [], []
        gen = finetune(cfg)
        try:
            while True:
                p = next(gen)
                if p.message:
                    messages.append(p.message)
                    print(f"[{p.kind} step {p.step}] {p.message}", flush=True)
                if p.kind == "step":
                    losses.append(p.loss)
        except StopIteration as stop:
            ckpt = Path(stop.value)
        print(f"steps done {len(losses)}, losses {[round(x, 3) for x in losses]}, "
              f"peak allocated {torch.cuda.max_memory_allocated() / GIB:.2f} GiB", flush=True)
        oom_seen = any("out of memory" in m for m in messages)
        built = load_checkpoint(ckpt)
        pred = Predictor(built, device="cuda", score_thresh=0.0)
        img = load(data / coco["images"][0]["file_name"])
        dets = pred.predict([img])[0]
        print(f"checkpoint {ckpt.name} loaded; pre-label after the OOM: {len(dets.boxes)} boxes on a "
              f"{img.shape[1]}x{img.shape[0]} image")
        ok = oom_seen and len(losses) == args.steps and all(x == x for x in losses)
        print("gpu_oom_check:", "OK (real OOM, batch reduced, run finished, prediction works)" if ok else
              f"NOT OK (oom seen: {oom_seen}, steps {len(losses)}/{args.steps})")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
