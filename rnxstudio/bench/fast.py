"""`rnxstudio bench fast`: the optimised inference path against torchvision eager fp32.

Four measurements, each against a baseline measured in the same run (alternating runs, so CPU
contention from other processes hits both alike):

speed     ``Predictor(optimize="none")`` vs ``optimize=MODE`` on the same model, weights and image
          (default ResNeXt-50-FPN with frozen BatchNorm, the layout pretrained weights give; the
          BN statistics are randomised so folding does real work). Target >= 1.3x on CPU.
growth    time of the optimised path at three image sizes, and per megapixel.
accuracy  a tiny ResNeXt (BatchNorm) trained for a few dozen steps on the shapes benchmark; eager
          vs optimised detections: count at the score threshold, IoU of matched boxes, COCO AP.
pipeline  "pre-label all" over JPEG files: the naive loop (decode, then predict, one by one) vs
          :func:`run_inference` (decode + resize on a thread pool while the model runs). Target 1.3x.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rnxstudio.core.benchtable import alternating_times


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="resnext50_32x4d_fpn", help="zoo model for the speed test")
    parser.add_argument("--size", type=int, default=512, help="min_size (image short side) for the speed test")
    parser.add_argument("--modes", default="auto", help="comma-separated optimize modes to time (e.g. auto,fold+jit,bf16)")
    parser.add_argument("--n", type=int, default=3, help="timed runs per path")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--train-steps", type=int, default=40, help="training steps for the accuracy model")
    parser.add_argument("--pipeline-images", type=int, default=32, help="JPEG files for the pipeline test")
    parser.add_argument("--pipeline-size", type=int, nargs=2, default=None, metavar=("W", "H"),
                        help="JPEG size for the pipeline test (default 1600 1200; 640 480 with --quick)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: speed,growth,accuracy,pipeline")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run (tiny model, few images)")


def _median_pair(fa, fb, n: int) -> tuple[float, float]:
    ta, tb = alternating_times(fa, fb, n)
    return statistics.median(ta), statistics.median(tb)


def _randomise_norms(model, seed: int = 0) -> None:
    import torch
    from torchvision.ops.misc import FrozenBatchNorm2d

    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, FrozenBatchNorm2d):
            c = m.weight.numel()
            m.weight.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)


def _scene(w: int, h: int, seed: int):
    import numpy as np

    from rnxstudio.data.demo import make_scene

    return make_scene(np.random.default_rng(seed), w, h, 6)[0]


def speed_rows(model_name: str, size: int, modes: list[str], n: int, device: str) -> list:
    from rnxstudio.core.benchtable import Row
    from rnxstudio.ml.predict import Predictor
    from rnxstudio.ml.zoo import build_model

    built = build_model(model_name, num_classes=5, min_size=size, max_size=max(size * 2, 64),
                        norm="frozen_bn", pretrained_backbone=False, allow_download=False)
    _randomise_norms(built.model)
    rgb = _scene(size * 4 // 3, size, 1)
    eager = Predictor(built, device=device, optimize="none")
    rows = []
    for mode in modes:
        opt = Predictor(built, device=device, optimize=mode)
        for _ in range(1):  # warm-up (jit traces, allocator)
            eager.predict([rgb])
            opt.predict([rgb])
        a, b = _median_pair(lambda: eager.predict([rgb]), lambda: opt.predict([rgb]), n)
        target = ">= 1.30x" if mode == "auto" else "-"
        rows.append(Row(f"infer {model_name} {rgb.shape[1]}x{rgb.shape[0]} [{opt.plan.describe()}]",
                        f"{a * 1000:.0f} ms", f"{b * 1000:.0f} ms", a / b, target,
                        (a / b >= 1.3) if mode == "auto" else None))
    return rows


def growth_rows(model_name: str, sizes: list[int], n: int, device: str) -> list:
    from rnxstudio.core.benchtable import Row
    from rnxstudio.ml.predict import Predictor
    from rnxstudio.ml.zoo import build_model

    rows, first = [], None
    for s in sizes:
        built = build_model(model_name, num_classes=5, min_size=s, max_size=s * 2, norm="frozen_bn",
                            pretrained_backbone=False, allow_download=False)
        rgb = _scene(s * 4 // 3, s, 2)
        pred = Predictor(built, device=device)
        pred.predict([rgb])
        t = statistics.median(_times(lambda: pred.predict([rgb]), n))
        mpx = rgb.shape[0] * rgb.shape[1] / 1e6
        first = first or t / mpx
        rows.append(Row(f"growth: infer {model_name} {rgb.shape[1]}x{rgb.shape[0]} ({mpx:.2f} Mpx)", "-",
                        f"{t * 1000:.0f} ms ({t / mpx * 1000:.0f} ms/Mpx)", None,
                        f"ms/Mpx vs smallest: {t / mpx / first:.2f}", None))
    return rows


def _times(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def pipeline_rows(n_images: int, work: Path, size: tuple[int, int]) -> list:
    from PIL import Image

    from rnxstudio.core.benchtable import Row
    from rnxstudio.data import images
    from rnxstudio.ml.predict import Predictor, run_inference
    from rnxstudio.ml.zoo import build_model

    w, h = size
    paths = []
    for i in range(n_images):
        p = work / f"frame_{i:04d}.jpg"
        Image.fromarray(_scene(w, h, 100 + i)).save(p, quality=90)
        paths.append(p)
    built = build_model("resnext_tiny_fpn", num_classes=5, allow_download=False)
    pred = Predictor(built, device="cpu")
    pred.predict([images.load(paths[0])])

    def naive() -> None:
        for p in paths:
            pred.predict([images.load(p)])

    def ours() -> None:
        for item in run_inference(paths, pred, workers=2):
            assert item.ok, item.error

    for item in run_inference(paths[:2], pred, workers=2):  # warm both paths (threads, allocator)
        pass
    a, b = _median_pair(naive, ours, 2)
    ips_a, ips_b = n_images / a, n_images / b
    return [Row(f"pre-label {n_images} JPEGs {w}x{h} (tiny model, 320 px)", f"{ips_a:.2f} img/s",
                f"{ips_b:.2f} img/s", ips_b / ips_a, ">= 1.30x", ips_b / ips_a >= 1.3)]


def accuracy_rows(steps: int, work: Path, quick: bool) -> list:
    import numpy as np
    import torch

    from rnxstudio.core.benchtable import Row
    from rnxstudio.data import images
    from rnxstudio.data.demo import make_shapes_dataset
    from rnxstudio.ml.evaluate import box_iou, evaluate
    from rnxstudio.ml.predict import Predictor
    from rnxstudio.ml.zoo import build_model

    size, n_train, n_val = 128, (16 if quick else 48), (8 if quick else 24)
    coco = make_shapes_dataset(n_train + n_val, size, 7, work / "shapes")
    cat_ids = [c["id"] for c in coco["categories"]]
    label_of = {cid: i + 1 for i, cid in enumerate(cat_ids)}
    by_img: dict[int, list] = {im["id"]: [] for im in coco["images"]}
    for a in coco["annotations"]:
        by_img[a["image_id"]].append(a)
    ims = [(im, images.load(work / "shapes" / im["file_name"])) for im in coco["images"]]
    train, val = ims[:n_train], ims[n_train:]

    torch.manual_seed(0)
    built = build_model("resnext_tiny_fpn", num_classes=len(cat_ids), class_names=[c["name"] for c in coco["categories"]],
                        min_size=size, max_size=size, norm="bn", pretrained_backbone=False, allow_download=False)
    model = built.model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    for step in range(steps):
        batch = [train[i] for i in rng.choice(len(train), 4, replace=False)]
        xs = [torch.from_numpy(rgb).permute(2, 0, 1).float() / 255 for _, rgb in batch]
        ts = [{"boxes": torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                       a["bbox"][1] + a["bbox"][3]] for a in by_img[im["id"]]],
                                     dtype=torch.float32).reshape(-1, 4),
               "labels": torch.tensor([label_of[a["category_id"]] for a in by_img[im["id"]]], dtype=torch.int64)}
              for im, _ in batch]
        loss = sum(model(xs, ts).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()

    gt = {"images": [im for im, _ in val], "categories": coco["categories"],
          "annotations": [a for im, _ in val for a in by_img[im["id"]]]}
    results = {}
    for mode in ("none", "auto"):
        pred = Predictor(built, device="cpu", optimize=mode)
        dets = {im["id"]: d for (im, _), d in zip(val, (pred.predict([rgb])[0] for _, rgb in val))}
        for d in dets.values():  # model labels -> COCO category ids
            d.labels = np.array([cat_ids[int(lab) - 1] for lab in d.labels], dtype=np.int64)
        results[mode] = dets
    ap = {m: 100 * (evaluate(gt, results[m]).metrics.get("AP") or 0.0) for m in results}
    thr, count_diff, ious = 0.3, 0, []
    for img_id, de in results["none"].items():
        e, o = de.above(thr), results["auto"][img_id].above(thr)
        count_diff = max(count_diff, abs(len(e) - len(o)))
        if len(e) and len(o):
            iou = box_iou(e.boxes.astype(np.float64), o.boxes.astype(np.float64))
            iou[e.labels[:, None] != o.labels[None, :]] = 0
            ious += list(iou.max(axis=1)[iou.max(axis=1) > 0.5])
    min_iou = min(ious) if ious else 1.0
    ok = abs(ap["auto"] - ap["none"]) <= 0.3 and min_iou >= 0.99 and count_diff <= 2
    return [Row(f"accuracy: tiny model {steps} steps, {n_val} shapes images, AP / min IoU / count diff @{thr}",
                f"AP {ap['none']:.2f}", f"AP {ap['auto']:.2f}, IoU {min_iou:.4f}, +-{count_diff}", None,
                "|dAP|<=0.3, IoU>=0.99, +-2", ok)]


def run(args: argparse.Namespace) -> int:
    import torch

    from rnxstudio.core.benchtable import emit

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    model = "resnext_tiny_fpn" if args.quick else args.model
    size = min(args.size, 160) if args.quick else args.size
    n = 1 if args.quick else args.n
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}")
    rows = []
    if "speed" not in skip:
        rows += speed_rows(model, size, [m.strip() for m in args.modes.split(",") if m.strip()], n, args.device)
    if "growth" not in skip:
        sizes = [96, 128, 160] if args.quick else [size // 2, size * 3 // 4, size]
        rows += growth_rows(model, sizes, n, args.device)
    with tempfile.TemporaryDirectory(prefix="rnx-bench-fast-") as tmp:
        if "accuracy" not in skip:
            rows += accuracy_rows(8 if args.quick else args.train_steps, Path(tmp), args.quick)
        if "pipeline" not in skip:
            psize = tuple(args.pipeline_size or ((640, 480) if args.quick else (1600, 1200)))
            rows += pipeline_rows(6 if args.quick else args.pipeline_images, Path(tmp), psize)
    emit(rows, "optimised inference vs torchvision eager fp32")
    return 0
