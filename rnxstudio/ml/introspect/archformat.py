"""Text / CSV / Markdown / JSON renderings of architecture tables, and side-by-side comparison.

Column conventions (stated in every rendering's notes): ``GFLOPs`` is FlopCounterMode's count
(2 FLOPs per multiply-add); ``GMACs`` is half of it, the ResNeXt paper's "FLOPs".
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no torch import for the GUI thread that only renders tables
    from rnxstudio.ml.introspect.archtable import ArchRow, ArchTable

# (header, ArchRow attribute / property, formatter)
COLUMNS: list[tuple[str, str]] = [
    ("stage", "name"),
    ("blocks", "blocks"),
    ("groups (cardinality)", "groups"),
    ("width/group", "width_per_group"),
    ("bottleneck width", "bottleneck_width"),
    ("out ch", "out_channels"),
    ("stride", "stride"),
    ("out HxW", "out_hw"),
    ("params (M)", "params"),
    ("GFLOPs (2/MAC)", "flops"),
    ("GMACs (paper)", "gmacs"),
]
STRUCT_FIELDS = ("blocks", "groups", "width_per_group", "bottleneck_width", "out_channels", "stride", "out_hw")


def cell(row: ArchRow | None, attr: str) -> str:
    """One formatted cell ('' when the row lacks the field or is absent)."""
    if row is None:
        return ""
    v = getattr(row, attr)
    if v is None:
        return ""
    if attr == "params":
        return f"{v / 1e6:.3f}"
    if attr == "flops":
        return f"{v / 1e9:.2f}"
    if attr == "gmacs":
        return f"{v:.3f}"
    return str(v)


@dataclass
class Grid:
    """A plain table: headers, string cells, cells to highlight (row, col) and notes."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    highlight: set[tuple[int, int]] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def table_grid(table: ArchTable) -> Grid:
    rows = [[cell(r, attr) for _h, attr in COLUMNS] for r in table.rows]
    title = f"{table.model} @ {table.input_hw[0]}x{table.input_hw[1]}"
    return Grid(title, [h for h, _a in COLUMNS], rows, set(), list(table.notes))


def _same(a: ArchRow | None, b: ArchRow | None, attr: str) -> bool:
    if a is None or b is None:
        return a is b
    va, vb = getattr(a, attr), getattr(b, attr)
    if isinstance(va, float) or isinstance(vb, float):
        return abs((va or 0.0) - (vb or 0.0)) <= 5e-4 * max(abs(va or 0.0), abs(vb or 0.0), 1e-9)
    return va == vb


def compare(a: ArchTable, b: ArchTable) -> Grid:
    """Side-by-side table of two models, one row per stage (union of both, total last).

    Structural fields show one value when equal and ``A -> B`` when not; params and GMACs get
    an A column, a B column and the relative change. Differing cells are in ``highlight``.
    """
    names: list[str] = [r.name for r in a.rows]
    names += [r.name for r in b.rows if r.name not in names]
    if "total" in names:  # keep total last
        names.remove("total")
        names.append("total")
    idx_a = {r.name: r for r in a.rows}
    idx_b = {r.name: r for r in b.rows}
    label = dict(COLUMNS_REV)
    headers = ["stage", *(label[f] for f in STRUCT_FIELDS),
               "params A (M)", "params B (M)", "change params", "GMACs A", "GMACs B", "change GMACs"]
    rows: list[list[str]] = []
    hl: set[tuple[int, int]] = set()
    for i, n in enumerate(names):
        ra, rb = idx_a.get(n), idx_b.get(n)
        row = [n if ra is not None and rb is not None else f"{n} ({'A' if rb is None else 'B'} only)"]
        for f in STRUCT_FIELDS:
            ca, cb = cell(ra, f), cell(rb, f)
            if _same(ra, rb, f) or ca == cb:
                row.append(ca)
            else:
                hl.add((i, len(row)))
                row.append(f"{ca or '-'} -> {cb or '-'}")
        for f in ("params", "gmacs"):
            if not _same(ra, rb, f):
                hl.update({(i, len(row)), (i, len(row) + 1), (i, len(row) + 2)})
            row += [cell(ra, f), cell(rb, f), _delta(ra, rb, f)]
        rows.append(row)
    notes = [f"A = {a.model} ({a.input_hw[0]}x{a.input_hw[1]}), B = {b.model} ({b.input_hw[0]}x{b.input_hw[1]})",
             "differing cells are marked * (text), ** (Markdown) or listed under 'differs' (JSON); "
             "change = (B - A) / A", *a.notes[1:]]
    return Grid(f"{a.model} vs {b.model}", headers, rows, hl, notes)


COLUMNS_REV = [(attr, h) for h, attr in COLUMNS]


def _delta(a: ArchRow | None, b: ArchRow | None, attr: str) -> str:
    if a is None or b is None:
        return ""
    va, vb = float(getattr(a, attr)), float(getattr(b, attr))
    if va == 0:
        return "" if vb == 0 else "new"
    return f"{(vb - va) / va * 100:+.1f}%"


# ------------------------------------------------------------------ renderers


def to_text(grid: Grid) -> str:
    """Aligned plain-text table; differing cells get a trailing '*'."""
    cells = [[c + ("*" if (i, j) in grid.highlight and c else "") for j, c in enumerate(r)]
             for i, r in enumerate(grid.rows)]
    widths = [max(len(h), *(len(r[j]) for r in cells)) if cells else len(h) for j, h in enumerate(grid.headers)]

    def line(vals: list[str]) -> str:
        return "  ".join(v.ljust(widths[0]) if j == 0 else v.rjust(widths[j]) for j, v in enumerate(vals)).rstrip()

    out = [grid.title, line(grid.headers), "  ".join("-" * w for w in widths)]
    for i, r in enumerate(cells):
        if grid.rows[i][0] == "total":
            out.append("  ".join("-" * w for w in widths))
        out.append(line(r))
    out += [f"note: {n}" for n in grid.notes]
    return "\n".join(out) + "\n"


def to_csv(grid: Grid) -> str:
    """CSV with one header line (no highlighting, no notes)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(grid.headers)
    writer.writerows(grid.rows)
    return buf.getvalue()


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def to_markdown(grid: Grid) -> str:
    """GitHub Markdown table; differing cells in bold; notes as a list below."""
    lines = [f"**{_md_escape(grid.title)}**", "",
             "| " + " | ".join(_md_escape(h) for h in grid.headers) + " |",
             "|" + "|".join(":--" if j == 0 else "--:" for j in range(len(grid.headers))) + "|"]
    for i, r in enumerate(grid.rows):
        vals = [f"**{_md_escape(c)}**" if (i, j) in grid.highlight and c else _md_escape(c) for j, c in enumerate(r)]
        lines.append("| " + " | ".join(vals) + " |")
    if grid.notes:
        lines.append("")
        lines += [f"- {_md_escape(n)}" for n in grid.notes]
    return "\n".join(lines) + "\n"


def to_json(grid: Grid) -> str:
    """JSON: title, headers, rows (as objects keyed by header), differs (per row), notes."""
    rows = []
    for i, r in enumerate(grid.rows):
        obj = dict(zip(grid.headers, r, strict=True))
        diff = [grid.headers[j] for j in range(len(r)) if (i, j) in grid.highlight]
        if diff:
            obj["differs"] = diff
        rows.append(obj)
    return json.dumps({"title": grid.title, "headers": grid.headers, "rows": rows, "notes": grid.notes}, indent=2) + "\n"


def table_json(table: ArchTable) -> str:
    """Raw numbers (integers, not formatted strings) of one table as JSON."""
    rows = []
    for r in table.rows:
        d = {k: getattr(r, k) for k in ("name", "kind", "blocks", "groups", "width_per_group",
                                         "bottleneck_width", "out_channels", "stride", "out_hw", "params", "flops")}
        d["gmacs"] = r.gmacs
        rows.append(d)
    return json.dumps({"model": table.model, "input_hw": list(table.input_hw), "resized_hw": list(table.resized_hw),
                       "batch_hw": list(table.batch_hw), "rows": rows, "notes": table.notes}, indent=2) + "\n"


RENDERERS = {"table": to_text, "csv": to_csv, "markdown": to_markdown, "json": to_json}


def render(grid: Grid, fmt: str) -> str:
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(RENDERERS)}")
    return RENDERERS[fmt](grid)
