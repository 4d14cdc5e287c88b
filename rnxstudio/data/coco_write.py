"""Write a :class:`LabelSet` as COCO detection JSON, putting back what was kept from COCO files.

Coordinates: COCO ``bbox`` is ``[x, y, width, height]`` in pixels with (0, 0) the top-left corner
of the top-left pixel, the frame of :class:`~rnxstudio.core.model.Box` (``x2 = x + w``, no
half-pixel shift). Floats are written with Python's shortest round-trip repr. A box that still
has the geometry it was read with gets its original ``bbox`` back digit for digit.

Preserved fields (``extra["coco"]``, docs/adr/0009-preserved-label-fields.md) are written back:
original ids (``keep_ids``, on by default: an id is kept unless an earlier record already took it,
e.g. Roboflow splits all starting at 0 merged into one file), ``segmentation`` (a box edited
since it was read makes its polygon *stale*: still written, and counted in ``notes``), ``area``
(the segmentation's area when there is one, else the box's), ``attributes``, any unknown key,
``iscrowd`` from :attr:`Box.crowd`, ``difficult: 1`` for :attr:`Box.difficult` (rnxstudio's own
key: COCO has no such field; other tools ignore it, rnxstudio reads it back), image fields (``license``, ``coco_url``...), category fields,
``info``, ``licenses`` and unknown top-level keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from rnxstudio.core.model import Box, Category, ImageRecord, LabelSet
from rnxstudio.data.atomic import atomic_open
from rnxstudio.data.coco_geometry import segmentation_area
from rnxstudio.data.labelpaths import relative_name
from rnxstudio.data.schema import INT64_MAX, INT64_MIN

_OWN_ANN = ("id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation", "difficult")


def _is_id(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and INT64_MIN <= v <= INT64_MAX


def assign_ids(items: Sequence, original: Callable[[Any], Any], fallback: Callable[[Any], Any] | None,
               keep: bool) -> tuple[list[int], int]:
    """Ids for ``items``: with ``keep``, each item's original id unless an earlier item took it,
    then the ``fallback`` ids (the project's) when they are all valid (>= 1), free and unique; the
    rest numbered after the largest id used. Without ``keep``: 1..n in order. Returns (ids, how
    many original ids could not be kept)."""
    ids: list[int | None] = [None] * len(items)
    used: set[int] = set()
    lost = 0
    if keep:
        for k, item in enumerate(items):
            o = original(item)
            if not _is_id(o):
                continue
            if o in used:
                lost += 1
                continue
            ids[k] = o
            used.add(o)
    rest = [k for k, v in enumerate(ids) if v is None]
    if keep and fallback is not None and rest:
        cand = [fallback(items[k]) for k in rest]
        if all(_is_id(c) and c >= 1 and c not in used for c in cand) and len(set(cand)) == len(cand):
            for k, c in zip(rest, cand):
                ids[k] = c
            used.update(cand)
            rest = []
    nxt = max(used, default=0) + 1
    for k in rest:
        ids[k] = nxt
        nxt += 1
    return [int(i) for i in ids], lost  # type: ignore[arg-type]


def _coco_extra(record: Any) -> dict:
    extra = getattr(record, "extra", None) or {}
    coco = extra.get("coco")
    return coco if isinstance(coco, dict) else {}


def box_unchanged(box: Box) -> bool:
    """Whether ``box`` still has the corners of the COCO ``bbox`` it was read with."""
    bbox = _coco_extra(box).get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4):
        return False
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return False
    return (x, y, x + w, y + h) == tuple(float(v) for v in box.xyxy)


def edited_since_import(box: Box) -> bool:
    """Whether a box read from COCO was moved or resized after it was read (or imported: the
    store records the corners it was stored with as ``_xyxy``, so clipping on import is no edit)."""
    kept = _coco_extra(box)
    stored = kept.get("_xyxy")
    if isinstance(stored, list) and len(stored) == 4:
        return [float(v) for v in stored] != [float(v) for v in box.xyxy]
    return "bbox" in kept and not box_unchanged(box)


def provenance_attributes(b: Box) -> dict[str, Any]:
    """How a box came to be, as written in an annotation's ``attributes`` (CVAT's place for
    per-annotation attributes): ``provenance`` drawn / accepted / edited, and for a model's box
    the ``model`` and its ``score``."""
    out: dict[str, Any] = {"provenance": b.provenance}
    if b.provenance in ("accepted", "edited"):
        if b.model_name:
            out["model"] = b.model_name
        if b.score is not None:
            out["score"] = float(b.score)
    return out


def _annotation(b: Box, ann_id: int, image_id: int, notes: dict[str, int], provenance: bool = False) -> dict[str, Any]:
    kept = _coco_extra(b)
    edited = edited_since_import(b)
    same = not edited and box_unchanged(b)
    w, h = b.x2 - b.x1, b.y2 - b.y1
    bbox = list(kept["bbox"]) if same else [float(b.x1), float(b.y1), float(w), float(h)]
    seg = kept.get("segmentation", [])
    has_seg = seg not in (None, [], {})
    if has_seg and edited:
        notes["stale_segmentations"] = notes.get("stale_segmentations", 0) + 1
    if kept.get("area") is not None and (not edited or has_seg):
        area = kept["area"]
    elif has_seg:
        area = segmentation_area(seg)
    else:
        area = float(w * h)
    ann: dict[str, Any] = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": int(b.category_id),
        "bbox": bbox,
        "area": area,
        "iscrowd": int(bool(b.crowd)),
        "segmentation": seg if "segmentation" in kept else [],
    }
    if b.crowd:
        notes["crowd"] = notes.get("crowd", 0) + 1
    if b.difficult:  # not a COCO field: rnxstudio's own key, which other tools ignore
        ann["difficult"] = 1
        notes["difficult_key"] = notes.get("difficult_key", 0) + 1
    if b.score is not None:
        ann["score"] = float(b.score)
    if b.track_id is not None:
        ann["track_id"] = int(b.track_id)
    ann.update((k, v) for k, v in kept.items() if k not in _OWN_ANN and not k.startswith("_"))
    if provenance:
        attrs = ann.get("attributes")
        ann["attributes"] = {**(attrs if isinstance(attrs, dict) else {}), **provenance_attributes(b)}
    return ann


def _image(im: ImageRecord, image_id: int, root: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": image_id,
        "file_name": relative_name(im.path, root),
        "width": int(im.width),
        "height": int(im.height),
    }
    if im.frame_index is not None:
        entry["frame_index"] = int(im.frame_index)
    if im.timestamp is not None:
        entry["timestamp"] = float(im.timestamp)
    entry.update((k, v) for k, v in _coco_extra(im).items() if k not in entry)
    return entry


def _category(c: Category) -> dict[str, Any]:
    kept = _coco_extra(c)
    sup: Any = c.supercategory or ""
    if "supercategory" in kept and (kept["supercategory"] or "") == sup:
        sup = kept["supercategory"]  # a null read stays null
    entry: dict[str, Any] = {"id": int(c.id), "name": c.name, "supercategory": sup, "color": c.color}
    if not sup and "supercategory" in kept.get("_absent", []):
        del entry["supercategory"]
    entry.update((k, v) for k, v in kept.items() if k not in entry and not k.startswith("_"))
    return entry


def to_coco_dict(ls: LabelSet, *, info: dict | None = None, keep_ids: bool = True,
                 notes: dict[str, int] | None = None, provenance: bool = False) -> dict[str, Any]:
    """The COCO dict for ``ls``: every image (also those without boxes), crowd regions with
    ``iscrowd: 1``, categories with their own ids, and every kept field. ``notes`` (if given)
    receives counts of what a reader should know: ``stale_segmentations``, ``crowd``,
    ``difficult_key``, ``image_ids_renumbered``, ``annotation_ids_renumbered``. ``provenance``
    adds each box's provenance to its ``attributes`` (:func:`provenance_attributes`)."""
    notes = {} if notes is None else notes
    ids = [im.id for im in ls.images]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"LabelSet has duplicate image ids {dup}; boxes cannot be assigned")
    known_cats = {c.id for c in ls.categories}
    image_ids, lost = assign_ids(ls.images, lambda im: _coco_extra(im).get("id"), lambda im: im.id, keep_ids)
    if lost:
        notes["image_ids_renumbered"] = lost
    pairs: list[tuple[Box, int]] = []
    for im, iid in zip(ls.images, image_ids):
        for b in ls.boxes.get(im.id, []):
            if b.category_id not in known_cats:
                raise ValueError(f"box {b.id} on {im.path} has unknown category id {b.category_id}")
            pairs.append((b, iid))
    ann_ids, lost = assign_ids([b for b, _ in pairs], lambda b: _coco_extra(b).get("id"), None, keep_ids)
    if lost:
        notes["annotation_ids_renumbered"] = lost
    annotations = [_annotation(b, aid, iid, notes, provenance) for (b, iid), aid in zip(pairs, ann_ids)]
    images = [_image(im, iid, ls.root) for im, iid in zip(ls.images, image_ids)]
    categories = [_category(c) for c in ls.categories]
    top = dict((ls.extra or {}).get("coco") or {})
    taken_ids, taken_names = {c["id"] for c in categories}, {c["name"] for c in categories}
    parents = [p for p in top.pop("_placeholder_categories", []) if isinstance(p, dict)
               and p.get("id") not in taken_ids and p.get("name") not in taken_names]
    if ls.info:
        merged_info = dict(ls.info)
    else:
        merged_info = {"description": "exported by rnxstudio"}
    merged_info.update(info or {})
    out: dict[str, Any] = {
        "info": merged_info,
        "licenses": list(ls.licenses or []),
        "images": images,
        "annotations": annotations,
        "categories": parents + categories,
    }
    out.update((k, v) for k, v in top.items() if k not in out and not k.startswith("_"))
    return out


def write_coco(ls: LabelSet, path: str | os.PathLike, *, info: dict | None = None, keep_ids: bool = True,
               notes: dict[str, int] | None = None, provenance: bool = False) -> None:
    """Write ``ls`` as COCO JSON to ``path`` atomically (the old file survives any failure)."""
    data = to_coco_dict(ls, info=info, keep_ids=keep_ids, notes=notes, provenance=provenance)
    with atomic_open(path, "w") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1, allow_nan=False)
        fh.write("\n")
