"""`rnxstudio bench fast`: every inference path this machine can run, against torchvision eager fp32.

speed   X50-FPN (frozen BN with randomised statistics, so folding does real work; seeded, so the
        OpenVINO cache is reused across runs) on one generated scene at ``--size``: eager fp32 and
        each path, timed round-robin in one run (eager, path 1, path 2, ..., repeated ``--n``
        times) so load from other processes falls on all alike; medians and speed-ups.
guard   each path on the guard model (``--guard-model``: the shipped demo detector when present,
        else a shapes model trained once; :mod:`rnxstudio.ml.accuracy_guard`) over ``--guard-images``
        generated scenes: dAP vs eager fp32 and the share of eager's boxes matched at IoU >= 0.9.
growth  the auto path at three image sizes, per megapixel.

Paths: "fold+cl fp32" (the previous default), "torch fp32" (fold + channels_last + sparse
RoIAlign), where the CPU has native bf16 "torch bf16 all" (the whole backbone + FPN in bf16) and
"torch bf16 fp32-stem" (the same with the stem kept fp32: the torch bf16 path the app runs),
"openvino fp32" / "openvino bf16" (where OpenVINO is installed; bf16 where native). The run ends with two lines scripts read:
``auto path: NAME, X.XXx vs eager fp32`` and ``accuracy guard: dAP=..., matched=...%, pass|fail``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

CPU_PATHS = {
    "fold+cl fp32": "fold+channels_last",
    "torch fp32": "fold+channels_last+sparse_roi",
    "torch bf16 all": "fold+channels_last+bf16+sparse_roi",
    "torch bf16 fp32-stem": "fold+channels_last+bf16+fp32_stem+sparse_roi",
    "openvino fp32": "openvino+sparse_roi",
    "openvino bf16": "openvino+bf16+sparse_roi",
}
CUDA_PATHS = {"torch fp32": "fold+channels_last", "torch fp16": "fold+channels_last+fp16"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="resnext50_32x4d_fpn", help="zoo model for the speed test")
    parser.add_argument("--size", type=int, default=800, help="min_size (image short side) for the speed test")
    parser.add_argument("--paths", default="native",
                        help="'native' (the paths that suit this machine), 'all' (bf16 even where not native), "
                             "or comma-separated names: " + ", ".join(CPU_PATHS))
    parser.add_argument("--n", type=int, default=5, help="timed rounds (each runs eager and every path once)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "openvino"),
                        help="the backend 'auto' may choose; 'torch' shows what a machine without the "
                             "[openvino] extra runs (and leaves the OpenVINO paths out of 'native')")
    parser.add_argument("--guard-model", default="auto", help="auto | demo | a checkpoint file")
    parser.add_argument("--guard-images", type=int, default=200, help="generated validation scenes for the guard")
    parser.add_argument("--guard-train-minutes", type=float, default=5.0,
                        help="training budget of the fallback guard model (only when there is no demo detector "
                             "and none was trained before)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: speed,guard,growth")
    parser.add_argument("--quick", action="store_true",
                        help="smoke sizes: tiny model, small image, 1 round, 16 guard images; the guard runs only "
                             "if a guard model exists already")


def select_paths(device: str, spec: str, *, native_bf16: bool, have_openvino: bool) -> dict[str, str]:
    """{name: fast mode} to measure on ``device`` for ``--paths`` ``spec``."""
    import torch

    if torch.device(device).type != "cpu":
        return dict(CUDA_PATHS)
    if spec not in ("native", "all"):
        names = [s.strip() for s in spec.split(",") if s.strip()]
        unknown = [n for n in names if n not in CPU_PATHS]
        if unknown:
            raise ValueError(f"unknown path {unknown[0]!r}; use {', '.join(CPU_PATHS)}")
        return {n: CPU_PATHS[n] for n in names}
    out = {}
    for name, mode in CPU_PATHS.items():
        if "openvino" in name and not have_openvino:
            continue
        if "bf16" in name and not native_bf16 and spec == "native":
            continue
        out[name] = mode
    return out


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


def speed_model(name: str, size: int):
    """The speed-test model: seeded random weights, frozen BN with randomised statistics."""
    import torch

    from rnxstudio.ml.zoo import build_model

    torch.manual_seed(0)
    built = build_model(name, num_classes=5, min_size=size, max_size=max(size * 2, 64), norm="frozen_bn",
                        pretrained_backbone=False, allow_download=False)
    _randomise_norms(built.model)
    return built


def round_robin(fns: dict[str, object], n: int) -> dict[str, list[float]]:
    """Seconds of ``n`` rounds, each calling every function once in order (warm-ups are the caller's)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(n):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return times


def _predictor(built, device: str, mode: str):
    from rnxstudio.ml.predict import Predictor

    t0 = time.perf_counter()
    p = Predictor(built, device=device, optimize=mode)
    setup = time.perf_counter() - t0
    bb = p._runner.backbone
    note = ""
    if hasattr(bb, "from_cache"):
        note = f"OpenVINO IR {'from cache' if bb.from_cache else f'converted in {setup:.0f} s'}"
    return p, note


def speed(built, device: str, paths: dict[str, str], n: int) -> tuple[dict[str, float], dict[str, str], str]:
    """(median seconds per path incl. "eager fp32", notes per path, image size text)."""
    size = int(built.model.transform.min_size[-1])
    rgb = _scene(size * 4 // 3, size, 1)
    preds, notes = {"eager fp32": _predictor(built, device, "none")[0]}, {}
    for name, mode in paths.items():
        preds[name], notes[name] = _predictor(built, device, mode)
    for p in preds.values():  # warm-up: allocator, oneDNN primitive caches, OpenVINO first shapes
        p.predict([rgb])
    times = round_robin({k: (lambda p=p: p.predict([rgb])) for k, p in preds.items()}, n)
    return {k: statistics.median(v) for k, v in times.items()}, notes, f"{rgb.shape[1]}x{rgb.shape[0]}"


def guard(paths: dict[str, str], device: str, model_spec: str, n_images: int, train_minutes: float,
          work: Path, quick: bool):
    """({path name: GuardResult}, description of the guard model), or ({}, reason) when skipped."""
    from rnxstudio.ml import accuracy_guard as ag
    from rnxstudio.ml.predict import Predictor

    if quick and model_spec == "auto" and ag._demo_model() is None \
            and not (ag.fallback_dir() / "guard.safetensors").is_file():
        return {}, "skipped in --quick: no guard model trained yet (run without --quick once)"
    built, desc = ag.guard_model(model_spec, train_minutes=train_minutes)
    size = int(built.model.transform.min_size[-1])
    gset = ag.make_guard_set(n_images, size, work / "guard")
    cat_ids = gset.category_ids_for(built.class_names)
    eager = ag.predict_all(Predictor(built, device=device, optimize="none"), gset)
    ap_eager = ag.coco_ap(gset.gt, eager, cat_ids)
    out = {}
    for name, mode in paths.items():
        dets = ag.predict_all(Predictor(built, device=device, optimize=mode), gset)
        out[name] = ag.compare(gset.gt, cat_ids, eager, dets, ap_eager=ap_eager)
    return out, f"{desc}; {n_images} scenes {size}px (seed {ag.GUARD_DATA_SEED}), eager fp32 AP {ap_eager:.2f}"


def growth_rows(built_for, sizes: list[int], device: str, n: int) -> list:
    from rnxstudio.core.benchtable import Row
    from rnxstudio.ml.predict import Predictor

    rows, first = [], None
    for s in sizes:
        built = built_for(s)
        rgb = _scene(s * 4 // 3, s, 2)
        pred = Predictor(built, device=device)
        pred.predict([rgb])
        t = statistics.median(round_robin({"x": lambda: pred.predict([rgb])}, n)["x"])
        mpx = rgb.shape[0] * rgb.shape[1] / 1e6
        first = first or t / mpx
        rows.append(Row(f"growth: {pred.path_name} {rgb.shape[1]}x{rgb.shape[0]} ({mpx:.2f} Mpx)", "-",
                        f"{t * 1000:.0f} ms ({t / mpx * 1000:.0f} ms/Mpx)", None,
                        f"ms/Mpx vs smallest: {t / mpx / first:.2f}", None))
    return rows


def _target(native_bf16: bool, device: str) -> float:
    import torch

    return 1.3 if torch.device(device).type != "cpu" else (2.5 if native_bf16 else 1.5)


def run(args: argparse.Namespace) -> int:
    import torch

    from rnxstudio.core.benchtable import Row, emit
    from rnxstudio.ml.precision import cpu_info, openvino_available, resolve

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    model = "resnext_tiny_fpn" if args.quick else args.model
    size = min(args.size, 160) if args.quick else args.size
    n = 1 if args.quick else max(1, args.n)
    info = cpu_info()
    try:
        auto = resolve(args.device, backend=args.backend)
        paths = select_paths(args.device, args.paths, native_bf16=info.native_bf16,
                             have_openvino=openvino_available() and args.backend != "torch")
    except ValueError as exc:
        print(exc)
        return 2
    auto_name = next((k for k, m in paths.items() if m == auto.mode), None)
    if auto_name is None:
        auto_name = auto.name
        paths[auto_name] = auto.mode
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; CPU {info.summary()}; "
          f"torch capability {info.torch_capability}; OpenVINO {'installed' if openvino_available() else 'not installed'}")
    print(f"auto chooses: {auto.describe()}")
    medians: dict[str, float] = {}
    notes: dict[str, str] = {}
    guards: dict = {}
    rows = []
    target = _target(info.native_bf16, args.device)
    with tempfile.TemporaryDirectory(prefix="rnx-bench-fast-") as tmp:
        if "guard" not in skip:
            guards, gdesc = guard(paths, args.device, args.guard_model, 16 if args.quick else args.guard_images,
                                  args.guard_train_minutes, Path(tmp), args.quick)
            print(f"accuracy guard model: {gdesc}")
        if "speed" not in skip:
            built = speed_model(model, size)
            medians, notes, img = speed(built, args.device, paths, n)
            base = medians["eager fp32"]
            rows.append(Row(f"eager fp32 {model} {img} (baseline)", f"{base * 1000:.0f} ms", f"{base * 1000:.0f} ms",
                            1.0, "-", None))
            for name, mode in paths.items():
                ratio = base / medians[name]
                g = guards.get(name)
                is_auto = name == auto_name
                rows.append(Row(f"{name}{' (auto)' if is_auto else ''} [{mode}]", f"{base * 1000:.0f} ms",
                                f"{medians[name] * 1000:.0f} ms; guard " + (g.line() if g else "not run"),
                                ratio, f">= {target:.2f}x + guard" if is_auto else "guard",
                                (ratio >= target and (g is None or g.passed)) if is_auto else
                                (g.passed if g else None)))
                if notes.get(name):
                    print(f"  {name}: {notes[name]}")
    if "growth" not in skip:
        sizes = [96, 128, 160] if args.quick else [size // 2, size * 3 // 4, size]
        rows += growth_rows(lambda s: speed_model(model, s), sizes, args.device, n)
    emit(rows, f"inference paths vs torchvision eager fp32 ({n} round-robin rounds, medians)")
    if medians:
        print(f"auto path: {auto_name}, {medians['eager fp32'] / medians[auto_name]:.2f}x vs eager fp32")
    g = guards.get(auto_name)
    print(f"accuracy guard: {g.line()}" if g else "accuracy guard: not run")
    return 0
