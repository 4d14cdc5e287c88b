"""Shapes scenes with a share of hard ones, for the loop benchmark (``rnxstudio bench loop``).

Built from the demo generator's pieces (:mod:`rnxstudio.data.demo`: its backgrounds, shapes and
drawing), so the easy scenes are exactly :func:`~rnxstudio.data.demo.make_scene`'s. A *hard*
scene has more objects, each with some of three difficulties a person meets in real photos:

* small — 12 to 28 px across (the demo's sizes go up to 120 px);
* overlapping — boxes may overlap up to IoU 0.5 (the demo stops at 0.3);
* low contrast — the shape's colour is the background's mean under it shifted by 22–45 grey
  levels, instead of a saturated colour.

Pure function of the seed, like the demo generator.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rnxstudio.data import demo
from rnxstudio.data.atomic import atomic_write_bytes, atomic_write_text

HARD_MAX_SIZE = 28.0
HARD_OVERLAP = 0.5
EASY_OVERLAP = 0.3


def _low_contrast(rng: np.random.Generator, img: np.ndarray, s: demo.Shape) -> demo.Shape:
    """``s`` recoloured close to the background under it."""
    h, w = img.shape[:2]
    x1, y1, x2, y2 = (int(v) for v in s.bbox(w, h))
    patch = img[max(0, y1):max(y1 + 1, y2), max(0, x1):max(x1 + 1, x2)].reshape(-1, 3)
    mean = patch.mean(axis=0) if len(patch) else np.full(3, 128.0)
    shift = float(rng.uniform(22, 45)) * (1.0 if mean.mean() < 128 else -1.0)
    color = np.clip(mean + shift, 0, 255).astype(int)
    return demo.Shape(s.cls, s.cx, s.cy, s.size, s.angle, (int(color[0]), int(color[1]), int(color[2])))


def make_hard_scene(rng: np.random.Generator, width: int, height: int, n_objects: int,
                    classes: tuple[int, ...] = tuple(range(len(demo.CLASSES)))
                    ) -> tuple[np.ndarray, list[tuple[int, tuple[float, float, float, float]]]]:
    """One hard scene: RGB image and its objects as (index into SHAPES, xyxy) of ``classes``
    (indices into SHAPES); see the module docstring."""
    img = demo._background(rng, width, height)
    big = min(demo.MAX_SIZE, 0.6 * min(width, height))
    shapes: list[demo.Shape] = []
    objects: list[tuple[int, tuple[float, float, float, float]]] = []
    tries = 0
    while len(shapes) < n_objects and tries < n_objects * 20:
        tries += 1
        small = rng.random() < 0.5
        s = demo._random_shape(rng, width, height, HARD_MAX_SIZE if small else big, classes)
        box = s.bbox(width, height)
        if box[2] - box[0] < 4 or box[3] - box[1] < 4:
            continue
        if any(demo._iou(box, other) > HARD_OVERLAP for _, other in objects):
            continue
        if rng.random() < 0.5:
            s = _low_contrast(rng, img, s)
        shapes.append(s)
        objects.append((s.cls, box))
    for s in shapes:
        demo._draw(img, s)
    return img, objects


def make_loop_dataset(n: int, size: int = 256, seed: int = 0, out_dir: str | Path | None = None, *,
                      hard_share: float = 0.3, max_objects: int = 6, prefix: str = "scene",
                      classes: tuple[str, ...] = demo.CLASSES) -> dict:
    """``n`` scenes of ``size`` px from ``seed`` with ``classes`` (names from SHAPES, category ids
    1.. in this order): a ``hard_share`` of them hard (3 to ``max_objects + 2`` objects), the rest
    the demo's ordinary scenes (1 to ``max_objects``; every tenth image after the first is empty).
    Returns the COCO dict (with ``"hard": true`` on the hard images); with ``out_dir`` writes the
    PNGs and ``annotations.json`` there."""
    if not 0.0 <= hard_share <= 1.0:
        raise ValueError(f"hard_share must be within [0, 1], got {hard_share}")
    shape_ids, _ = demo._class_indices(tuple(classes), None)
    category_of = {k: i + 1 for i, k in enumerate(shape_ids)}
    rng = np.random.default_rng(seed)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(n):
        hard = bool(rng.random() < hard_share)
        if hard:
            img, objects = make_hard_scene(rng, size, size, int(rng.integers(3, max_objects + 3)), shape_ids)
        else:
            n_obj = 0 if (i > 0 and i % 10 == 0) else int(rng.integers(1, max_objects + 1))
            img, objects = demo.make_scene(rng, size, size, n_obj, shape_ids)
        name = f"{prefix}_{i:05d}.png"
        images.append({"id": i + 1, "file_name": name, "width": size, "height": size, "hard": hard})
        for cls, (x1, y1, x2, y2) in objects:
            w, h = x2 - x1, y2 - y1
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": category_of[cls],
                                "bbox": [round(x1, 3), round(y1, 3), round(w, 3), round(h, 3)],
                                "area": round(w * h, 3), "iscrowd": 0})
        if out is not None:
            atomic_write_bytes(out / name, demo.encode_png(img))
    coco = {"info": {"description": f"rnxstudio loop-benchmark shapes, seed {seed}, hard share {hard_share:g}"},
            "licenses": [], "images": images, "annotations": annotations, "categories": demo.coco_categories(tuple(classes))}
    if out is not None:
        atomic_write_text(out / "annotations.json", json.dumps(coco, indent=1, sort_keys=True))
    return coco
