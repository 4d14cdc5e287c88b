"""Smoke test: the store benchmark runs end to end at a tiny size and prints its figures."""

from __future__ import annotations

import pytest

from rnxstudio.cli import main

pytestmark = pytest.mark.perf


def test_bench_store_small(capsys, tmp_path):
    assert main(["bench", "store", "--", "--images", "300", "--boxes", "3000", "--edits", "10", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for label in ("bulk build", "one edit commit (FULL)", "status filter", "boxes of one image", "open"):
        assert label in out
    assert not list(tmp_path.iterdir())  # temp project removed
