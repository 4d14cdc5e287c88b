"""Smoke test: the io benchmark runs end to end at a tiny size and prints its figures."""

from __future__ import annotations

import pytest

from rnxstudio.cli import main

pytestmark = pytest.mark.perf


def test_bench_io_small(capsys, tmp_path):
    args = ["bench", "io", "--", "--files", "50", "--size", "96", "64", "--repeat", "1", "--frames", "8"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "scan_folder: 50 files listed" in out
    for label in ("load 96x64.jpg", "load 96x64.png", "read_size", "random reads/s"):
        assert label in out
