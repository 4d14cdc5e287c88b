"""Smoke test: the inference benchmark runs end to end on the tiny model and prints its figures."""

from __future__ import annotations

import re

import pytest

from rnxstudio.cli import main

pytestmark = pytest.mark.perf


def test_bench_infer_tiny(capsys):
    args = ["bench", "infer", "--", "--model", "resnext_tiny_fpn", "--size", "96", "--n", "1", "--warmup", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    params = float(re.search(r"params\s+([\d.]+) M", out).group(1))
    assert 1.0 < params < 3.0
    assert float(re.search(r"GFLOPs\s+([\d.]+)", out).group(1)) > 0
    for label in ("(a) raw model  median", "(b) file->Det  median", "ratio b/a"):
        assert label in out
