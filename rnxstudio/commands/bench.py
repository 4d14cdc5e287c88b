"""`rnxstudio bench NAME`: benchmarks that print figures (never pass/fail timing tests).

Each benchmark is a module exposing ``add_arguments(parser)`` and ``run(args) -> int``; register
it in BENCHES as ``name: (module path, one-line help)``. Modules are imported only when their
benchmark runs (or when ``rnxstudio bench NAME --help`` is asked), so this file stays light.
"""

from __future__ import annotations

import argparse
import importlib

BENCHES: dict[str, tuple[str, str]] = {
    "infer": ("rnxstudio.ml.bench_infer", "inference: raw torchvision vs file -> Detections, params, GFLOPs"),
    "store": ("rnxstudio.data.bench_store", "project store at scale: edit latency, filter and lookup times"),
    "canvas": ("rnxstudio.ui.bench_canvas", "canvas on a 4000x3000 image: set_image, repaint, zoom, pan, drag"),
    "gui-stall": ("rnxstudio.ui.bench_stall", "longest GUI-thread stall while the inference worker runs"),
    "io": ("rnxstudio.data.bench_io", "folder scan, image load / read_size and video access speed"),
    "train": ("rnxstudio.ml.bench_train", "training images/s: our trainer vs a plain torchvision loop"),
    "shapes": ("rnxstudio.ml.bench_shapes", "shapes benchmark: val AP/AP50 vs wall-clock minutes from random init"),
    "nav": ("rnxstudio.ui.bench_nav", "main window: first image after opening a folder, next-image paint latency, RSS"),
    "fast": ("rnxstudio.ml.bench_fast", "every inference path here vs torchvision eager fp32: speed-up + accuracy guard"),
    "prelabel": ("rnxstudio.ml.bench_prelabel", "pre-label all end to end (decode, resize, model, store) vs model only"),
    "all": ("rnxstudio.bench_suite", "every benchmark at small sizes, one summary table (measure, baseline, ours, target)"),
    "inspect": ("rnxstudio.ml.introspect.bench", "inspector: forward with feature capture, heatmaps, Grad-CAM, arch table"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name, (module, help_text) in BENCHES.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_bench_module=module)
        # arguments are added lazily in run(); accept anything here
        sp.add_argument("bench_args", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    rest = args.bench_args[1:] if args.bench_args[:1] == ["--"] else args.bench_args  # `bench NAME -- --opt`
    return run_bench(args.bench, rest)


def run_bench(name: str, argv: list[str]) -> int:
    """Run benchmark ``name`` with its own options (``argv`` as typed after the name)."""
    module = importlib.import_module(BENCHES[name][0])
    parser = argparse.ArgumentParser(prog=f"rnxstudio bench {name}", description=BENCHES[name][1])
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv)) or 0)
