"""COCO ``segmentation`` values: checking them, their area, and decoding run-length encoding.

A COCO segmentation is one of (cocodataset.org "Data format"):
  * polygons: a list of rings ``[[x1, y1, x2, y2, ...], ...]`` in pixels (an object split by
    occlusion has several rings); some tools write one flat ring ``[x1, y1, ...]``;
  * run-length encoding (RLE): ``{"counts": [...], "size": [height, width]}``, the counts
    alternating background and foreground runs over the mask read column by column (the first
    count is background, possibly 0); ``counts`` may also be pycocotools' compressed string.
``iscrowd=1`` regions usually carry RLE, but polygons are allowed too. rnxstudio keeps the value
verbatim (it edits boxes, not masks) and uses these helpers to validate it and to compute
``area`` when a file does not give one.
"""

from __future__ import annotations

import math
from typing import Any


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def rings(seg: Any) -> list[list[float]]:
    """The polygon rings of a polygon segmentation (a flat list counts as one ring)."""
    if isinstance(seg, list) and seg and all(_num(v) for v in seg):
        return [seg]
    return [r for r in seg if isinstance(r, list)] if isinstance(seg, list) else []


def is_rle(seg: Any) -> bool:
    return isinstance(seg, dict)


def counts_from_string(s: str) -> list[int]:
    """Decode pycocotools' compressed RLE string: each count is a run of 5-bit groups (6 bits per
    character, offset 48, bit 5 = more groups follow, bit 4 of the last group = sign), and from the
    third count on each value is stored as the difference to the count two places before."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s):
                raise ValueError("compressed RLE string ends inside a count")
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"character {s[p]!r} is not part of a compressed RLE string")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_counts(seg: dict) -> tuple[list[int], int, int]:
    """``(counts, height, width)`` of an RLE segmentation; ValueError naming what is wrong."""
    size = seg.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                              and v >= 0 for v in size)):
        raise ValueError(f"RLE 'size' must be [height, width], got {size!r}")
    h, w = size
    raw = seg.get("counts")
    if isinstance(raw, str):
        counts = counts_from_string(raw)
    elif isinstance(raw, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
        counts = list(raw)
    else:
        raise ValueError("RLE 'counts' must be a list of integers or a compressed string")
    if any(c < 0 for c in counts):
        raise ValueError("RLE has a negative run length")
    if sum(counts) != h * w:
        raise ValueError(f"RLE runs cover {sum(counts)} pixels, not the {h}x{w} = {h * w} of its size")
    return counts, h, w


def check_segmentation(seg: Any, width: int, height: int) -> str | None:
    """None when ``seg`` is a usable COCO segmentation for a ``width`` x ``height`` image (or empty),
    else what is wrong with it."""
    if seg is None or seg == [] or seg == {}:
        return None
    if is_rle(seg):
        try:
            _, h, w = rle_counts(seg)
        except ValueError as exc:
            return str(exc)
        if (h, w) != (height, width):
            return f"RLE size {h}x{w} (height x width) does not match the {width}x{height} image"
        return None
    if not isinstance(seg, list):
        return f"must be a list of polygons or an RLE object, not {type(seg).__name__}"
    for k, ring in enumerate(rings(seg) if seg and all(_num(v) for v in seg) else seg):
        if not isinstance(ring, list) or not all(_num(v) for v in ring):
            return f"polygon {k} must be a list of finite numbers"
        if len(ring) % 2:
            return f"polygon {k} has an odd number of coordinates ({len(ring)})"
    return None


def polygon_area(seg: Any) -> float:
    """Area enclosed by the rings (shoelace formula, summed over rings)."""
    total = 0.0
    for ring in rings(seg):
        xs, ys = ring[0::2], ring[1::2]
        n = len(xs)
        if n < 3:
            continue
        total += abs(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))) / 2.0
    return total


def rle_area(seg: dict) -> int:
    counts, _, _ = rle_counts(seg)
    return sum(counts[1::2])


def rle_bbox(seg: dict) -> tuple[float, float, float, float] | None:
    """``(x, y, w, h)`` of the mask's foreground (None when empty); the mask is column-major."""
    counts, h, _ = rle_counts(seg)
    if h == 0:
        return None
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    pos = 0
    for k, run in enumerate(counts):
        if k % 2 and run:
            first, last = pos, pos + run - 1
            cx0, cx1 = first // h, last // h
            x0, x1 = min(x0, cx0), max(x1, cx1)
            if cx0 == cx1:
                y0, y1 = min(y0, first % h), max(y1, last % h)
            else:  # the run wraps from one column into the next: every row is covered
                y0, y1 = 0, h - 1
        pos += run
    if x1 < 0:
        return None
    return float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)


def segmentation_area(seg: Any) -> float | None:
    """The area of a non-empty segmentation (None when there is none)."""
    if seg is None or seg == [] or seg == {}:
        return None
    if is_rle(seg):
        return float(rle_area(seg))
    return polygon_area(seg)
