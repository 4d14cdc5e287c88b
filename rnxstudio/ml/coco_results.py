"""COCO *results* JSON (``[{image_id, category_id, bbox: [x, y, w, h], score}, ...]``).

The file is what ``pycocotools.COCO.loadRes`` expects next to the ground-truth COCO file of the
same images: image ids come from that file (matched by file name), category ids from its
categories (matched by class name), else from the checkpoint's category ids, else 1..K.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnxstudio.data.atomic import atomic_write_text
from rnxstudio.ml.predict import Detections


class CocoResultsError(ValueError):
    """The ground-truth COCO file cannot be used to number results; names the file."""


@dataclass
class GroundTruthIds:
    """Image ids by file name (full relative name and bare basename) and category ids by name."""

    image_ids: dict[str, int] = field(default_factory=dict)
    basename_ids: dict[str, int] = field(default_factory=dict)
    category_ids: dict[str, int] = field(default_factory=dict)
    frame_ids: dict[int, int] = field(default_factory=dict)  # video frame index -> image id

    def image_id(self, path: str | os.PathLike) -> int | None:
        p = str(path).replace("\\", "/")
        for name, iid in self.image_ids.items():
            if p == name or p.endswith("/" + name):
                return iid
        return self.basename_ids.get(p.rsplit("/", 1)[-1])


def read_ground_truth_ids(coco_path: str | os.PathLike) -> GroundTruthIds:
    """Read image and category ids from a COCO detection file (nothing else is validated here)."""
    p = Path(coco_path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CocoResultsError(f"{p}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CocoResultsError(f"{p}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise CocoResultsError(f"{p}: not a COCO file (no 'images' list)")
    gt = GroundTruthIds()
    seen_base: dict[str, int] = {}
    for i, im in enumerate(data["images"]):
        if not isinstance(im, dict) or not isinstance(im.get("id"), int) or not isinstance(im.get("file_name"), str):
            raise CocoResultsError(f"{p}: images[{i}] needs an integer 'id' and a string 'file_name'")
        name = im["file_name"].replace("\\", "/")
        gt.image_ids[name] = im["id"]
        base = name.rsplit("/", 1)[-1]
        seen_base[base] = seen_base.get(base, 0) + 1
        gt.basename_ids[base] = im["id"]
        if isinstance(im.get("frame_index"), int):
            gt.frame_ids[im["frame_index"]] = im["id"]
    for base, n in seen_base.items():  # ambiguous basenames must match by full name
        if n > 1:
            del gt.basename_ids[base]
    for i, cat in enumerate(data.get("categories") or []):
        if isinstance(cat, dict) and isinstance(cat.get("id"), int) and isinstance(cat.get("name"), str):
            gt.category_ids[cat["name"]] = cat["id"]
        else:
            raise CocoResultsError(f"{p}: categories[{i}] needs an integer 'id' and a string 'name'")
    return gt


def category_id_map(class_names: Sequence[str], *, checkpoint_ids: Sequence[int] | None = None,
                    gt: GroundTruthIds | None = None) -> tuple[list[int], list[str]]:
    """Category id per class (index = label - 1) and warnings about how they were chosen."""
    warnings: list[str] = []
    if gt is not None and gt.category_ids:
        missing = [n for n in class_names if n not in gt.category_ids]
        if not missing:
            return [gt.category_ids[n] for n in class_names], warnings
        warnings.append(
            f"classes not in the COCO file's categories: {', '.join(missing)}; using the "
            "checkpoint's category ids instead"
        )
    if checkpoint_ids is not None:
        return [int(c) for c in checkpoint_ids], warnings
    return list(range(1, len(class_names) + 1)), warnings


def detections_to_results(dets: Detections, image_id: int, category_ids: Sequence[int]) -> list[dict[str, Any]]:
    """COCO result records for one image (bbox ``[x, y, w, h]``, rounded to 1/1000 px)."""
    out = []
    for (x1, y1, x2, y2), s, lab in zip(dets.boxes.tolist(), dets.scores.tolist(), dets.labels.tolist()):
        out.append({
            "image_id": int(image_id),
            "category_id": int(category_ids[int(lab) - 1]),
            "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
            "score": round(float(s), 5),
        })
    return out


def write_results(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> int:
    """Atomically write the records as a JSON list; return how many were written."""
    recs = list(records)
    atomic_write_text(path, json.dumps(recs, separators=(",", ":")) + "\n")
    return len(recs)
