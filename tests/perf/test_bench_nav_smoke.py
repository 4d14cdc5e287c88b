"""Smoke test: `bench nav` drives the real window offscreen and prints its three rows."""

from __future__ import annotations

import pytest

from rnxstudio.cli import main
from rnxstudio.core.benchtable import parse_rows

pytestmark = [pytest.mark.perf, pytest.mark.gui]


def test_bench_nav_small(capsys):
    assert main(["bench", "nav", "--", "--files", "40", "--steps", "3", "--size", "160", "120"]) == 0
    rows = parse_rows(capsys.readouterr().out)
    assert [r.measure.split()[0] for r in rows] == ["first", "next", "RSS"]
    assert "ms" in rows[0].ours and rows[1].ours.startswith("median")
