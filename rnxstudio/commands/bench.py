"""`rnxstudio bench NAME`: the benchmarks of :mod:`rnxstudio.bench`."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rnxstudio.bench import add_arguments as add

    add(parser)


def run(args: argparse.Namespace) -> int:
    from rnxstudio.bench import run as run_bench

    return run_bench(args)
