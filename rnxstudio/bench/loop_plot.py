"""A small line chart as PNG for the loop benchmark (PIL only: no plotting library needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

COLORS = ["#444444", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e"]


def line_chart(path: str | Path, series: dict[str, Sequence[float | None]], *, title: str, xlabel: str = "round",
               ylabel: str = "seconds per image", size: tuple[int, int] = (720, 440)) -> Path:
    """Draw ``series`` (name -> one y per x = 0, 1, ...; None leaves a gap) and save a PNG."""
    from PIL import Image, ImageDraw

    w, h = size
    left, right, top, bottom = 70, 20, 40, 90
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    values = [v for ys in series.values() for v in ys if v is not None]
    n = max((len(ys) for ys in series.values()), default=1)
    ymax = max(values, default=1.0) * 1.1 or 1.0
    pw, ph = w - left - right, h - top - bottom

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (pw * i / max(1, n - 1))
        return x, top + ph * (1 - v / ymax)

    d.text((left, 6), title, fill="black")
    d.rectangle([left, top, left + pw, top + ph], outline="#999999")
    for k in range(6):  # y grid
        v = ymax * k / 5
        _, y = xy(0, v)
        d.line([left, y, left + pw, y], fill="#e5e5e5")
        d.text((8, y - 6), f"{v:5.1f}", fill="#333333")
    for i in range(n):
        x, _ = xy(i, 0)
        d.text((x - 3, top + ph + 6), str(i), fill="#333333")
    d.text((left + pw // 2 - 20, top + ph + 22), xlabel, fill="#333333")
    d.text((8, top - 18), ylabel, fill="#333333")
    for k, (name, ys) in enumerate(series.items()):
        color = COLORS[k % len(COLORS)]
        pts = [xy(i, v) for i, v in enumerate(ys) if v is not None]
        if len(pts) > 1:
            d.line(pts, fill=color, width=3)
        for x, y in pts:
            d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=color)
        ly = top + ph + 40 + 16 * (k // 2)
        lx = left + (k % 2) * (pw // 2)
        d.line([lx, ly + 6, lx + 24, ly + 6], fill=color, width=3)
        d.text((lx + 30, ly), name, fill="black")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out
