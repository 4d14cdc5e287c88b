"""Smoke tests: `bench fast --quick` prints its table; `bench all` collects rows into a summary."""

from __future__ import annotations

import argparse
import re

import pytest

from rnxstudio.bench import suite as bench_suite
from rnxstudio.cli import main
from rnxstudio.core.benchtable import Row, format_table, parse_rows

pytestmark = pytest.mark.perf


def test_rows_round_trip_and_table():
    rows = [Row("infer x", "10 ms", "5 ms", 2.0, ">= 1.30x", True), Row("growth y", "-", "3 ms", None, "-", None)]
    text = "noise\n" + "\n".join(r.line() for r in rows) + "\nBENCHROW {broken\n"
    assert parse_rows(text) == rows
    table = format_table(rows)
    assert "2.00x" in table and "pass" in table and table.splitlines()[0].startswith("measure")


def test_suite_reads_plain_text_benchmarks():
    store = "one edit commit (FULL)     median 7.26 ms, p95 11.31 ms"
    (r,) = bench_suite._rows_from_text("store", ["--images", "1000"], store)
    assert "1,000 images" in r.measure and "7.26 ms" in r.ours
    (r,) = bench_suite._rows_from_text("io", [], "scan_folder: 300 files listed in 2.8 ms (natural sort included)")
    assert "300 files" in r.measure
    stall = "pre-label all            5.01 s  ticks   816  median   5.1 ms  p99   19.7 ms  max   62.4 ms  [over]"
    (r,) = bench_suite._rows_from_text("gui-stall", [], stall)
    assert r.passed is False and "62.4" in r.ours


def test_suite_marks_a_failing_benchmark(monkeypatch, capsys):
    monkeypatch.setattr(bench_suite, "_plan", lambda quick: [("store", ["--images", "-5"])])
    code = bench_suite.run(argparse.Namespace(quick=True, only="", timeout=120.0))
    out = capsys.readouterr().out
    assert code == 1 and "exit" in out and "FAIL" in out


@pytest.mark.slow
def test_bench_fast_quick_prints_its_table(capsys):
    assert main(["bench", "fast", "--", "--quick", "--skip", "growth,guard"]) == 0
    out = capsys.readouterr().out
    assert "inference paths vs torchvision eager fp32" in out
    rows = parse_rows(out)
    assert rows[0].measure.startswith("eager fp32") and len(rows) >= 3
    assert any(r.measure.startswith("torch fp32") for r in rows)
    assert all(r.ratio is not None and r.ratio > 0 for r in rows)
    lines = out.strip().splitlines()
    assert re.fullmatch(r"auto path: [a-z]+ (fp32|bf16), \d+\.\d\dx vs eager fp32", lines[-2]), lines[-2]
    assert lines[-1] == "accuracy guard: not run"


@pytest.mark.slow
def test_bench_prelabel_quick_reports_the_ratio(capsys):
    assert main(["bench", "prelabel", "--", "--quick"]) == 0
    out = capsys.readouterr().out
    (row,) = parse_rows(out)
    assert row.measure.startswith("pre-label all 8 JPEGs") and row.ratio > 0
    assert re.search(r"prelabel ratio: \d+\.\d+ of model-only throughput", out)
    assert re.search(r"800 predicted boxes in the store|\d+ predicted boxes in the store", out)
