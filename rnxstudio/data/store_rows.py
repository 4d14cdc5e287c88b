"""Rows of the project store <-> the core dataclasses (one place that knows the column order).

``extra`` columns hold a JSON object (NULL when empty): what a label file said about an image,
box or category that rnxstudio keeps only to write it back (docs/adr/0009-preserved-label-fields.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from rnxstudio.core.model import Box, BoxSource, Category, ImageRecord, ImageStatus, InvalidBoxError

IMAGE_COLS = "id, path, frame_index, timestamp, width, height, status, error, missing, split, extra"
BOX_COLS = ("id, image_id, category_id, x1, y1, x2, y2, source, score, verified, track_id, crowd, difficult, extra, "
            "model_name, edited, model_version")
BOX_WRITE_COLS = ("image_id, category_id, x1, y1, x2, y2, source, score, verified, track_id, model_name, "
                  "crowd, difficult, extra, edited, model_version")
CATEGORY_COLS = "id, name, color, hotkey, supercategory, extra"

_STATUS = {s.value: s for s in ImageStatus}
_SOURCE = {s.value: s for s in BoxSource}


def dump_extra(extra: dict | None) -> str | None:
    """The JSON text stored for ``extra`` (None when empty). Refuses what JSON cannot hold."""
    if not extra:
        return None
    try:
        return json.dumps(extra, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"preserved fields cannot be stored as JSON: {exc}") from exc


def load_extra(text: str | None) -> dict:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def image_from_row(r: Sequence[Any]) -> ImageRecord:
    return ImageRecord(
        id=r[0], path=r[1], frame_index=None if r[2] < 0 else r[2], timestamp=r[3], width=r[4],
        height=r[5], status=_STATUS[r[6]], error=r[7], missing=bool(r[8]), split=r[9], extra=load_extra(r[10]),
    )


def box_from_row(r: Sequence[Any]) -> Box:
    return Box(
        id=r[0], image_id=r[1], category_id=r[2], x1=r[3], y1=r[4], x2=r[5], y2=r[6],
        source=_SOURCE[r[7]], score=r[8], verified=bool(r[9]), track_id=r[10], crowd=bool(r[11]),
        difficult=bool(r[12]), extra=load_extra(r[13]), model_name=r[14],
        edited=bool(r[15]), model_version=r[16],
    )


def category_from_row(r: Sequence[Any]) -> Category:
    return Category(id=r[0], name=r[1], color=r[2], hotkey=r[3], supercategory=r[4], extra=load_extra(r[5]))


def box_values(b: Box, model_name: str | None = None) -> tuple:
    """Values for BOX_WRITE_COLS (``model_name`` overrides the box's own); refuses a box that cannot exist."""
    for v in b.xyxy:
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidBoxError(f"box has non-finite coordinates {b.xyxy}")
    if b.x2 <= b.x1 or b.y2 <= b.y1:
        raise InvalidBoxError(f"box {b.xyxy} has x2 <= x1 or y2 <= y1")
    return (b.image_id, b.category_id, float(b.x1), float(b.y1), float(b.x2), float(b.y2),
            BoxSource(b.source).value, b.score, int(bool(b.verified)), b.track_id,
            model_name if model_name is not None else b.model_name,
            int(bool(b.crowd)), int(bool(b.difficult)), dump_extra(b.extra), int(bool(b.edited)),
            b.model_version)
