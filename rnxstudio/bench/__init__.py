"""`rnxstudio bench NAME`: benchmarks that print figures (never pass/fail timing tests).

Every benchmark lives in this package (``rnxstudio/bench/<name>.py``), except the three that
drive Qt widgets, which live in :mod:`rnxstudio.ui.bench` — reached only through the three
loader functions below, the one door from here into Qt (the import-linter contracts name exactly
these imports). Each module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and is
imported only when its benchmark runs (or its ``--help`` is asked), so this file stays light and
``rnxstudio bench --help`` works without Qt or torch.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from types import ModuleType


def _infer() -> ModuleType:
    from rnxstudio.bench import infer

    return infer


def _store() -> ModuleType:
    from rnxstudio.bench import store

    return store


def _io() -> ModuleType:
    from rnxstudio.bench import io

    return io


def _train() -> ModuleType:
    from rnxstudio.bench import train

    return train


def _shapes() -> ModuleType:
    from rnxstudio.bench import shapes

    return shapes


def _fast() -> ModuleType:
    from rnxstudio.bench import fast

    return fast


def _inspect() -> ModuleType:
    from rnxstudio.bench import inspect

    return inspect


def _suite() -> ModuleType:
    from rnxstudio.bench import suite

    return suite


def _canvas() -> ModuleType:  # Qt: the ui side of the benchmarks
    from rnxstudio.ui.bench import canvas

    return canvas


def _stall() -> ModuleType:  # Qt
    from rnxstudio.ui.bench import stall

    return stall


def _nav() -> ModuleType:  # Qt
    from rnxstudio.ui.bench import nav

    return nav


BENCHES: dict[str, tuple[Callable[[], ModuleType], str]] = {
    "infer": (_infer, "inference: raw torchvision vs file -> Detections, params, GFLOPs"),
    "store": (_store, "project store at scale: edit latency, filter and lookup times"),
    "canvas": (_canvas, "canvas on a 4000x3000 image: set_image, repaint, zoom, pan, drag"),
    "gui-stall": (_stall, "longest GUI-thread stall while the inference jobs run"),
    "io": (_io, "folder scan, image load / read_size and video access speed"),
    "train": (_train, "training images/s: our trainer vs a plain torchvision loop"),
    "shapes": (_shapes, "shapes benchmark: val AP/AP50 vs wall-clock minutes from random init"),
    "nav": (_nav, "main window: first image after opening a folder, next-image paint latency, RSS"),
    "fast": (_fast, "optimised inference vs torchvision eager: speed, size growth, accuracy, pipeline"),
    "all": (_suite, "every benchmark at small sizes, one summary table (measure, baseline, ours, target)"),
    "inspect": (_inspect, "inspector: forward with feature capture, heatmaps, Grad-CAM, arch table"),
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
    module = load()
    parser = argparse.ArgumentParser(prog=f"rnxstudio bench {name}", description=help_text)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv)) or 0)
