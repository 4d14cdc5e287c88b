"""Checks for packaging/smoke.sh, run by the system python3 (standard library only).

    python3 smoke_check.py results GT.json PRED.json   a COCO results file that fits GT.json
    python3 smoke_check.py results - PRED.json         the same without ground truth (a video)
    python3 smoke_check.py classes GT.json             GT's class names, comma-separated, in id order

``results`` fails (exit 1, the reason on stderr) unless PRED.json is a non-empty list of
detections whose image and category ids exist in GT.json, whose boxes are finite, positive and
inside their image, and whose scores are in [0, 1]; it prints a one-line summary. Without GT.json
only the boxes and scores are checked.
"""

from __future__ import annotations

import json
import math
import sys


def _read(path: str):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def classes(gt_path: str) -> str:
    gt = _read(gt_path)
    return ",".join(c["name"] for c in sorted(gt["categories"], key=lambda c: c["id"]))


def check_results(gt_path: str, pred_path: str) -> str:
    gt = _read(gt_path) if gt_path != "-" else None
    preds = _read(pred_path)
    images = {im["id"]: im for im in gt["images"]} if gt else {}
    cats = {c["id"] for c in gt["categories"]} if gt else set()
    if not isinstance(preds, list) or not preds:
        raise ValueError(f"{pred_path}: expected a non-empty list of detections")
    for i, det in enumerate(preds):
        where = f"{pred_path}: detection {i}"
        if not {"image_id", "category_id", "bbox", "score"} <= set(det):
            raise ValueError(f"{where}: keys {sorted(det)}")
        im = images.get(det["image_id"], {"width": math.inf, "height": math.inf}) if gt else None
        if gt and det["image_id"] not in images:
            raise ValueError(f"{where}: image_id {det['image_id']} is not in {gt_path}")
        if gt and det["category_id"] not in cats:
            raise ValueError(f"{where}: category_id {det['category_id']} is not in {gt_path}")
        x, y, w, h = det["bbox"]
        if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
            raise ValueError(f"{where}: bad bbox {det['bbox']}")
        if im and (x < -0.5 or y < -0.5 or x + w > im["width"] + 0.5 or y + h > im["height"] + 0.5):
            raise ValueError(f"{where}: bbox {det['bbox']} outside its {im['width']}x{im['height']} image")
        if not 0.0 <= det["score"] <= 1.0:
            raise ValueError(f"{where}: score {det['score']}")
    covered = len({d["image_id"] for d in preds})
    return (f"{len(preds)} detections on {covered}/{len(images) if gt else '?'} images, "
            f"{len({d['category_id'] for d in preds})} classes, all ids, boxes and scores valid")


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["results"] and len(argv) == 3:
            print(check_results(argv[1], argv[2]))
        elif argv[:1] == ["classes"] and len(argv) == 2:
            print(classes(argv[1]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"smoke_check: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
