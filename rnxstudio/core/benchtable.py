"""Benchmark result rows: one table format for every `rnxstudio bench` and the `bench all` suite.

A benchmark prints its human table with :func:`format_table` and, for the suite, one
machine-readable line per row (``BENCHROW {json}``) that :func:`parse_rows` collects back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

MARKER = "BENCHROW "


@dataclass
class Row:
    """One measurement: baseline vs ours, the ratio that the target is stated on, and the verdict.

    ``ratio`` is "bigger is better" (speed-up, or baseline/ours for times). ``passed`` is None
    when there is no target (a figure reported for information, e.g. a cost-growth point).
    """

    measure: str
    baseline: str
    ours: str
    ratio: float | None
    target: str
    passed: bool | None

    def line(self) -> str:
        return MARKER + json.dumps(asdict(self))


def parse_rows(text: str) -> list[Row]:
    """Every ``BENCHROW`` line in ``text`` as a :class:`Row` (other lines are ignored)."""
    rows = []
    for line in text.splitlines():
        if line.startswith(MARKER):
            try:
                rows.append(Row(**json.loads(line[len(MARKER):])))
            except (ValueError, TypeError):
                continue
    return rows


def verdict(passed: bool | None) -> str:
    return "-" if passed is None else ("pass" if passed else "FAIL")


def format_table(rows: Iterable[Row]) -> str:
    """A fixed-width text table: measure, baseline, ours, ratio, target, pass/fail."""
    header = ("measure", "baseline", "ours", "ratio", "target", "result")
    body = [(r.measure, r.baseline, r.ours, "" if r.ratio is None else f"{r.ratio:.2f}x", r.target,
             verdict(r.passed)) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in body]
    return "\n".join(lines)


def emit(rows: list[Row], title: str | None = None) -> None:
    """Print the table (and the machine-readable lines the suite collects)."""
    if title:
        print(f"\n== {title}")
    print(format_table(rows))
    for r in rows:
        print(r.line())


def alternating_times(baseline: Callable[[], object], ours: Callable[[], object], n: int
                      ) -> tuple[list[float], list[float]]:
    """Seconds of ``n`` calls of each, alternating baseline / ours, so that load from other
    processes falls on both alike (docs/PERFORMANCE.md). Warm-ups are the caller's."""
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(n):
        t = time.perf_counter()
        baseline()
        ta.append(time.perf_counter() - t)
        t = time.perf_counter()
        ours()
        tb.append(time.perf_counter() - t)
    return ta, tb
