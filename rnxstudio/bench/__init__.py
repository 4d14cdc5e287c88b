"""`rnxstudio bench NAME`: benchmarks that print figures (never pass/fail timing tests).

Every benchmark lives in this package (``rnxstudio/bench/<name>.py``), except the three that
drive Qt widgets, which live in :mod:`rnxstudio.ui.bench` — reached only through ``_qt`` below,
the one door from here into Qt (the import-linter contracts name exactly its imports). Each module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and is
imported only when its benchmark runs (or its ``--help`` is asked), so this file stays light and
``rnxstudio bench --help`` works without Qt or torch.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from types import ModuleType


def _headless(name: str) -> ModuleType:
    from rnxstudio.bench import fast, infer, inspect, io, prelabel, shapes, store, suite, train  # light at import

    return {"infer": infer, "store": store, "io": io, "train": train, "shapes": shapes, "fast": fast,
            "prelabel": prelabel, "inspect": inspect, "all": suite}[name]


def _qt(name: str) -> ModuleType:
    """The door into Qt: the benchmarks that drive widgets live in the ui wing."""
    from rnxstudio.ui.bench import canvas, nav, stall

    return {"canvas": canvas, "gui-stall": stall, "nav": nav}[name]


# name -> (which loader, one-line help)
BENCHES: dict[str, tuple[Callable[[str], ModuleType], str]] = {
    "infer": (_headless, "inference: raw torchvision vs file -> Detections, params, GFLOPs"),
    "store": (_headless, "project store at scale: edit latency, filter and lookup times"),
    "canvas": (_qt, "canvas on a 4000x3000 image: set_image, repaint, zoom, pan, drag"),
    "gui-stall": (_qt, "longest GUI-thread stall while the inference jobs run"),
    "io": (_headless, "folder scan, image load / read_size and video access speed"),
    "train": (_headless, "training images/s: our trainer vs a plain torchvision loop"),
    "shapes": (_headless, "shapes benchmark: val AP/AP50 vs wall-clock minutes from random init"),
    "nav": (_qt, "main window: first image after opening a folder, next-image paint latency, RSS"),
    "fast": (_headless, "every inference path here vs torchvision eager fp32: speed-up + accuracy guard"),
    "prelabel": (_headless, "pre-label all end to end (decode, resize, model, store) vs model only"),
    "all": (_headless, "every benchmark at small sizes, one summary table (measure, baseline, ours, target)"),
    "inspect": (_headless, "inspector: forward with feature capture, heatmaps, Grad-CAM, arch table"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name, (_load, help_text) in BENCHES.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        # arguments are added lazily in run_bench(); accept anything here
        sp.add_argument("bench_args", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    rest = args.bench_args[1:] if args.bench_args[:1] == ["--"] else args.bench_args  # `bench NAME -- --opt`
    return run_bench(args.bench, rest)


def run_bench(name: str, argv: list[str]) -> int:
    """Run benchmark ``name`` with its own options (``argv`` as typed after the name)."""
    load, help_text = BENCHES[name]
    module = load(name)
    parser = argparse.ArgumentParser(prog=f"rnxstudio bench {name}", description=help_text)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv)) or 0)
