"""`rnxstudio bench infer`: our inference path against raw torchvision on the same model.

(a) raw: the predictor's model (its inference path: eager, folded, bf16, OpenVINO...) called as
    ``model([tensor])`` on a pre-decoded tensor already on the device;
(b) ours: image file -> ``data.images.load`` -> ``image_to_tensor`` -> model -> :class:`Detections`.
Runs alternate (a, b, a, b, ...) so CPU contention hits both alike; medians and b/a are printed,
plus parameter count and counted GFLOPs of one forward pass. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from rnxstudio.core.benchtable import alternating_times


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="resnext50_32x4d_fpn", help="zoo model name")
    parser.add_argument("--size", type=int, default=800, help="square test image side and min_size")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--n", type=int, default=5, help="timed runs of each path")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--image", help="use this image instead of a generated shapes image")
    parser.add_argument("--amp", choices=("auto", "fp16", "bf16", "off"), default="off",
                        help="mixed precision for both paths (default off, fp32)")
    parser.add_argument("--precision", default="auto", help="inference path precision: auto, fp32, bf16, fp16")
    parser.add_argument("--backend", default="auto", help="auto, torch, openvino (CPU)")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count")


def _make_image(size: int, folder: Path) -> Path:
    from rnxstudio.data.demo import make_shapes_dataset

    make_shapes_dataset(1, size, 0, folder)
    return next(folder.glob("*.png"))


def run(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from rnxstudio.data import images
    from rnxstudio.ml.devices import device_label
    from rnxstudio.ml.predict import Predictor
    from rnxstudio.ml.tensors import image_to_tensor
    from rnxstudio.ml.zoo import build_model, count_parameters

    if args.n < 1:
        print("--n must be >= 1")
        return 2
    amp = None if args.amp == "auto" else (False if args.amp == "off" else args.amp)
    built = build_model(args.model, num_classes=5, min_size=args.size, max_size=max(1333, args.size),
                        allow_download=False)
    predictor = Predictor(built, device=args.device, amp=amp, precision=args.precision, backend=args.backend)
    dev = predictor.device
    model = predictor._runner  # the model the predictor really runs (its inference path)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    with tempfile.TemporaryDirectory(prefix="rnx-bench-") as tmp:
        path = Path(args.image) if args.image else _make_image(args.size, Path(tmp))
        rgb = images.load(path)
        tensor = image_to_tensor(rgb, device=dev)

        def raw() -> None:
            with torch.inference_mode(), predictor._autocast():
                model([tensor])
            sync()

        def ours() -> None:
            predictor.predict_paths([path])

        for _ in range(args.warmup):
            raw()
            ours()
        ta, tb = alternating_times(raw, ours, args.n)
        gflops = None
        if not args.no_flops:
            counter = FlopCounterMode(display=False)
            with counter, torch.inference_mode():
                built.model.eval()([tensor])  # FLOPs of the model itself (OpenVINO runs outside torch)
            gflops = counter.get_total_flops() / 1e9

    a, b = statistics.median(ta), statistics.median(tb)
    h, w = rgb.shape[:2]
    print(f"model          {built.spec.name} ({built.spec.title}), weights: {built.weights_origin}")
    print(f"device         {device_label(dev)}, path {predictor.describe()}")
    print(f"image          {path.name} {w}x{h}, min_size={args.size}, runs={args.n} (+{args.warmup} warm-up)")
    print(f"params         {count_parameters(built.model) / 1e6:.2f} M")
    if gflops is not None:
        print(f"GFLOPs         {gflops:.1f} (one forward, FlopCounterMode, 2 FLOPs per multiply-add)")
    print(f"(a) raw model  median {a:.3f} s/image  (min {min(ta):.3f}, max {max(ta):.3f})")
    print(f"(b) file->Det  median {b:.3f} s/image  (min {min(tb):.3f}, max {max(tb):.3f})")
    print(f"ratio b/a      {b / a:.3f}  (target <= 1.10 on CPU)")
    return 0
