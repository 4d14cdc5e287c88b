"""`rnxstudio bench all`: every benchmark at small sizes, then one summary table.

Each benchmark runs in its own subprocess (``python -m rnxstudio.cli bench NAME -- ...``), so
torch thread settings, Qt state and RSS of one never colour another; its full output is shown as
it was printed. Rows come back through :mod:`rnxstudio.core.benchtable` ``BENCHROW`` lines where a
benchmark prints them; for benchmarks that print plain text, the key figures are read from their
lines (store edit latency, folder scan time, GUI heartbeat stall). Stdlib only at import time.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time

from rnxstudio.core.benchtable import Row, format_table, parse_rows

_STALL_RE = re.compile(r"^(?P<name>.+?)\s+[\d.]+ s\s+ticks\s+\d+.*max\s+(?P<max>[\d.]+) ms")
_EDIT_RE = re.compile(r"one edit commit \(FULL\)\s+median (?P<med>[\d.]+ \S+), p95 (?P<p95>[\d.]+ \S+)")
_SCAN_RE = re.compile(r"scan_folder: (?P<n>\d+) files listed in (?P<ms>[\d.]+) ms")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smoke sizes (seconds per benchmark, not minutes)")
    parser.add_argument("--only", default="", help="comma-separated subset: fast,prelabel,store,io,gui-stall,nav")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per benchmark run")


def _plan(quick: bool) -> list[tuple[str, list[str]]]:
    """(bench name, its arguments) in run order; several entries of one bench make a growth table."""
    if quick:
        return [
            ("fast", ["--quick"]),
            ("prelabel", ["--quick"]),
            ("store", ["--images", "300", "--boxes", "3000", "--edits", "10"]),
            ("store", ["--images", "3000", "--boxes", "30000", "--edits", "10"]),
            ("io", ["--files", "300", "--repeat", "1", "--frames", "10", "--size", "320", "240"]),
            ("io", ["--files", "3000", "--repeat", "1", "--frames", "10", "--size", "320", "240"]),
            ("gui-stall", ["--n", "3", "--requests", "2", "--size", "96"]),
            ("nav", ["--files", "500", "--steps", "5", "--size", "640", "480"]),
        ]
    return [
        ("fast", ["--size", "384", "--n", "3"]),
        ("prelabel", ["--size", "384", "--images", "32"]),
        *[("store", ["--images", str(n), "--boxes", str(n * 10), "--edits", "100"]) for n in (1_000, 10_000, 100_000)],
        *[("io", ["--files", str(n), "--repeat", "3", "--frames", "30"]) for n in (1_000, 10_000, 50_000)],
        ("gui-stall", []),
        ("nav", ["--files", "10000", "--steps", "20"]),
    ]


def _rows_from_text(name: str, args: list[str], text: str) -> list[Row]:
    rows = parse_rows(text)
    if rows:
        return rows
    out: list[Row] = []
    for line in text.splitlines():
        if name == "store" and (m := _EDIT_RE.search(line)):
            images = args[args.index("--images") + 1]
            out.append(Row(f"growth: store edit commit, {int(images):,} images", "-",
                           f"median {m['med']}, p95 {m['p95']}", None, "flat in project size", None))
        elif name == "io" and (m := _SCAN_RE.search(line)):
            out.append(Row(f"growth: folder open (scan) {int(m['n']):,} files", "-", f"{float(m['ms']):.1f} ms",
                           None, "linear in file count", None))
        elif name == "gui-stall" and (m := _STALL_RE.search(line)):
            worst = float(m["max"])
            out.append(Row(f"GUI stall while inferring: {m['name'].strip()}", "-", f"max {worst:.1f} ms", None,
                           "<= 50 ms", worst <= 50.0))
    return out


def run(args: argparse.Namespace) -> int:
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    plan = [(n, a) for n, a in _plan(args.quick) if not only or n in only]
    rows: list[Row] = []
    failures = 0
    t_all = time.perf_counter()
    for name, bench_args in plan:
        cmd = [sys.executable, "-m", "rnxstudio.cli", "bench", name, "--", *bench_args]
        print(f"\n### rnxstudio bench {name} {' '.join(bench_args)}", flush=True)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            text, code = proc.stdout, proc.returncode
            if proc.returncode:
                text += proc.stderr[-2000:]
        except subprocess.TimeoutExpired as exc:
            text, code = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), -1
            text += f"\n(timed out after {args.timeout:.0f} s)"
        print("\n".join(line for line in text.splitlines() if not line.startswith("BENCHROW ")), flush=True)
        got = _rows_from_text(name, bench_args, text)
        if code != 0:
            failures += 1
            got.append(Row(f"bench {name} {' '.join(bench_args)}", "-", f"exit {code}", None, "runs", False))
        rows += got
        print(f"({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    print(f"\n== summary ({time.perf_counter() - t_all:.0f} s in all; other processes share this CPU)")
    print(format_table(rows))
    return 1 if failures else 0
