"""COCO detection JSON: write a :class:`LabelSet`, read (and validate) one from any real tool.

Coordinates: COCO ``bbox`` is ``[x, y, width, height]`` in pixels with (0, 0) the top-left
corner of the top-left pixel — the same frame as :class:`rnxstudio.core.model.Box`, so the
conversion is ``x2 = x + w`` with no half-pixel shift. Floats are written with Python's
shortest round-trip repr, so a write/read round trip is exact.

Reading validates the whole file first and raises one :class:`LabelFormatError` listing the
problems; nothing is returned half-built. Tolerated quirks of real exports:
CVAT (``segmentation``/``attributes`` keys, ids from 1), Label Studio (folder prefixes in
``file_name``), Roboflow (a supercategory-only category with no annotations, dropped),
images without ``width``/``height`` (read from the image header under ``image_root``) and
non-contiguous category ids (kept).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnxstudio.core.model import Box, BoxSource, Category, ImageRecord, LabelSet, default_color
from rnxstudio.data.atomic import atomic_open
from rnxstudio.data.errors import LabelFormatError
from rnxstudio.data.labelpaths import ImageResolver, normalize_name, relative_name
from rnxstudio.data.schema import INT64_MAX, INT64_MIN

__all__ = ["write_coco", "read_coco", "to_coco_dict", "from_coco_dict", "LabelFormatError"]

_EDGE_SLACK = 1.0  # px a box may start left of / above the image (rounding in other tools)
_STOP_AFTER = 200  # stop collecting problems after this many; the message lists the first few


# ----------------------------------------------------------------------------- writing


def _image_id_map(ls: LabelSet) -> dict[int, int]:
    """Old ImageRecord.id -> COCO image id. Ids are kept when they are unique positive ints,
    otherwise images are numbered 1..n in order (boxes follow their image)."""
    ids = [im.id for im in ls.images]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"LabelSet has duplicate image ids {dup}; boxes cannot be assigned")
    if all(isinstance(i, int) and i >= 1 for i in ids):
        return {i: i for i in ids}
    return {old: n for n, old in enumerate(ids, start=1)}


def to_coco_dict(ls: LabelSet, *, info: dict | None = None) -> dict[str, Any]:
    """The COCO dict for ``ls``: every image (also those without boxes), boxes as annotations
    with ids 1..n, categories with their own ids. Video frames keep ``frame_index`` and
    ``timestamp`` as extra image keys (the caller points ``path`` at the written frame file)."""
    id_map = _image_id_map(ls)
    known_cats = {c.id for c in ls.categories}
    images, annotations = [], []
    ann_id = 1
    for im in ls.images:
        entry: dict[str, Any] = {
            "id": id_map[im.id],
            "file_name": relative_name(im.path, ls.root),
            "width": int(im.width),
            "height": int(im.height),
        }
        if im.frame_index is not None:
            entry["frame_index"] = int(im.frame_index)
        if im.timestamp is not None:
            entry["timestamp"] = float(im.timestamp)
        images.append(entry)
        for b in ls.boxes.get(im.id, []):
            if b.category_id not in known_cats:
                raise ValueError(f"box {b.id} on {im.path} has unknown category id {b.category_id}")
            w, h = b.x2 - b.x1, b.y2 - b.y1
            ann: dict[str, Any] = {
                "id": ann_id,
                "image_id": id_map[im.id],
                "category_id": int(b.category_id),
                "bbox": [float(b.x1), float(b.y1), float(w), float(h)],
                "area": float(w * h),
                "iscrowd": 0,
                "segmentation": [],
            }
            if b.score is not None:
                ann["score"] = float(b.score)
            if b.track_id is not None:
                ann["track_id"] = int(b.track_id)
            annotations.append(ann)
            ann_id += 1
    categories = [
        {"id": int(c.id), "name": c.name, "supercategory": c.supercategory or "", "color": c.color}
        for c in ls.categories
    ]
    merged_info = {"description": "exported by rnxstudio"}
    merged_info.update(ls.info or {})
    merged_info.update(info or {})
    return {
        "info": merged_info,
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def write_coco(ls: LabelSet, path: str | os.PathLike, *, info: dict | None = None) -> None:
    """Write ``ls`` as COCO JSON to ``path`` atomically (the old file survives any failure)."""
    data = to_coco_dict(ls, info=info)
    with atomic_open(path, "w") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1, allow_nan=False)
        fh.write("\n")


# ----------------------------------------------------------------------------- reading


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, msg: str) -> None:
        if len(self.items) < _STOP_AFTER:
            self.items.append(msg)

    @property
    def full(self) -> bool:
        return len(self.items) >= _STOP_AFTER

    def __bool__(self) -> bool:
        return bool(self.items)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and INT64_MIN <= v <= INT64_MAX


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v: Any) -> bool:
    return _is_num(v) and math.isfinite(v)


def _check_list(data: dict, key: str, problems: _Problems) -> list:
    if key not in data:
        problems.add(f"missing top-level key '{key}'")
        return []
    value = data[key]
    if not isinstance(value, list):
        problems.add(f"'{key}' must be a list, not {type(value).__name__}")
        return []
    return value


def _validate_categories(cats: list, problems: _Problems) -> dict[int, dict]:
    by_id: dict[int, dict] = {}
    for i, c in enumerate(cats):
        where = f"categories[{i}]"
        if not isinstance(c, dict):
            problems.add(f"{where}: must be an object, not {type(c).__name__}")
            continue
        cid, name = c.get("id"), c.get("name")
        ok = True
        if not _is_int(cid):
            problems.add(f"{where}.id: must be an integer, got {cid!r}")
            ok = False
        if not isinstance(name, str) or not name.strip():
            problems.add(f"{where}.name: must be a non-empty string, got {name!r}")
            ok = False
        sup = c.get("supercategory", "")
        if sup is not None and not isinstance(sup, str):
            problems.add(f"{where}.supercategory: must be a string, got {sup!r}")
            ok = False
        if ok:
            if cid in by_id:
                problems.add(f"{where}.id: duplicate category id {cid}")
            else:
                by_id[cid] = c
    return by_id


def _validate_images(
    imgs: list, problems: _Problems, size_of: Callable[[str], tuple[int, int] | str]
) -> dict[int, tuple[dict, int, int]]:
    by_id: dict[int, tuple[dict, int, int]] = {}
    for i, im in enumerate(imgs):
        if problems.full:
            break
        where = f"images[{i}]"
        if not isinstance(im, dict):
            problems.add(f"{where}: must be an object, not {type(im).__name__}")
            continue
        iid, fname = im.get("id"), im.get("file_name")
        ok = True
        if not _is_int(iid):
            problems.add(f"{where}.id: must be an integer, got {iid!r}")
            ok = False
        if not isinstance(fname, str) or not fname.strip():
            problems.add(f"{where}.file_name: must be a non-empty string, got {fname!r}")
            ok = False
        w, h = im.get("width"), im.get("height")
        if w is None and h is None:
            if ok:
                size = size_of(fname)
                if isinstance(size, str):
                    problems.add(f"{where} ({fname}): no width/height in the file and {size}")
                    ok = False
                else:
                    w, h = size
        else:
            for key, v in (("width", w), ("height", h)):
                whole = _is_int(v) or (_finite(v) and float(v).is_integer() and _is_int(int(v)))
                if not whole or v <= 0:
                    problems.add(f"{where}.{key}: must be a positive integer, got {v!r}")
                    ok = False
        for key, check in (("frame_index", _is_int), ("timestamp", _finite)):
            if im.get(key) is not None and not check(im[key]):
                problems.add(f"{where}.{key}: invalid value {im[key]!r}")
                ok = False
        if ok:
            if iid in by_id:
                problems.add(f"{where}.id: duplicate image id {iid}")
            else:
                by_id[iid] = (im, int(w), int(h))
    return by_id


def _validate_annotations(
    anns: list, images: dict[int, tuple[dict, int, int]], cats: dict[int, dict], problems: _Problems
) -> list[dict]:
    good: list[dict] = []
    seen_ids: set[int] = set()
    for i, a in enumerate(anns):
        if problems.full:
            break
        where = f"annotations[{i}]"
        if not isinstance(a, dict):
            problems.add(f"{where}: must be an object, not {type(a).__name__}")
            continue
        ok = True
        aid = a.get("id")
        if aid is not None:
            if not _is_int(aid):
                problems.add(f"{where}.id: must be an integer, got {aid!r}")
                ok = False
            elif aid in seen_ids:
                problems.add(f"{where}.id: duplicate annotation id {aid}")
                ok = False
            else:
                seen_ids.add(aid)
        iid, cid = a.get("image_id"), a.get("category_id")
        if not _is_int(iid):
            problems.add(f"{where}.image_id: must be an integer, got {iid!r}")
            ok = False
        elif iid not in images:
            problems.add(f"{where}.image_id: no image with id {iid}")
            ok = False
        if not _is_int(cid):
            problems.add(f"{where}.category_id: must be an integer, got {cid!r}")
            ok = False
        elif cid not in cats:
            problems.add(f"{where}.category_id: no category with id {cid}")
            ok = False
        bbox = a.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            problems.add(f"{where}.bbox: must be a list [x, y, width, height], got {bbox!r}")
            ok = False
        elif not all(_finite(v) for v in bbox):
            problems.add(f"{where}.bbox: values must be finite numbers, got {bbox!r}")
            ok = False
        else:
            x, y, w, h = bbox
            if w <= 0 or h <= 0:
                problems.add(f"{where}.bbox: width and height must be positive, got {w!r} x {h!r}")
                ok = False
            if x < -_EDGE_SLACK or y < -_EDGE_SLACK:
                problems.add(f"{where}.bbox: starts outside the image at ({x!r}, {y!r})")
                ok = False
            elif w > 0 and h > 0 and (x + w <= x or y + h <= y):
                problems.add(f"{where}.bbox: {bbox!r} is too small to represent at this position")
                ok = False
            elif _is_int(iid) and iid in images:
                _, iw, ih = images[iid]
                if x >= iw or y >= ih:
                    problems.add(f"{where}.bbox: {bbox!r} lies outside the {iw}x{ih} image {iid}")
                    ok = False
        for key in ("score",):
            if a.get(key) is not None and not _finite(a[key]):
                problems.add(f"{where}.{key}: must be a finite number, got {a[key]!r}")
                ok = False
        if a.get("track_id") is not None and not _is_int(a["track_id"]):
            problems.add(f"{where}.track_id: must be an integer, got {a['track_id']!r}")
            ok = False
        if ok:
            good.append(a)
    return good


def _placeholder_categories(cats: dict[int, dict], used: set[int]) -> set[int]:
    """Roboflow-style parent categories: unused, and named as another category's supercategory."""
    return {
        cid
        for cid, c in cats.items()
        if cid not in used
        and any(o.get("supercategory") == c["name"] for oid, o in cats.items() if oid != cid)
    }


def from_coco_dict(
    data: Any, source: str | os.PathLike, image_root: str | os.PathLike | None = None
) -> LabelSet:
    """Validate a parsed COCO document and build a :class:`LabelSet`; ``source`` names the
    file in errors. Raises :class:`LabelFormatError` listing every problem found."""
    problems = _Problems()
    if not isinstance(data, dict):
        raise LabelFormatError(source, [f"top level must be a JSON object, not {type(data).__name__}"])
    imgs = _check_list(data, "images", problems)
    anns = _check_list(data, "annotations", problems)
    cats_raw = _check_list(data, "categories", problems)
    info = data.get("info", {})
    if info is not None and not isinstance(info, dict):
        problems.add(f"'info' must be an object, not {type(info).__name__}")
        info = {}
    resolver = ImageResolver(image_root) if image_root is not None else None

    def size_of(name: str) -> tuple[int, int] | str:
        if resolver is None:
            return "no image folder was given to read the size from"
        found = resolver.resolve(name)
        if found is None:
            return f"the image was not found under {image_root}"
        from rnxstudio.data.images import ImageLoadError, read_size

        try:
            return read_size(found)
        except ImageLoadError as exc:
            return f"its size could not be read ({exc.reason})"

    cats = _validate_categories(cats_raw, problems)
    images = _validate_images(imgs, problems, size_of)
    good = _validate_annotations(anns, images, cats, problems)
    if problems:
        raise LabelFormatError(source, problems.items)

    dropped = _placeholder_categories(cats, {a["category_id"] for a in good})
    categories = [
        Category(
            id=cid,
            name=c["name"],
            color=c["color"] if isinstance(c.get("color"), str) and c["color"].startswith("#") else default_color(n),
            supercategory=c.get("supercategory") or "",
        )
        for n, (cid, c) in enumerate((k, v) for k, v in cats.items() if k not in dropped)
    ]
    records = []
    for iid, (im, w, h) in images.items():
        records.append(
            ImageRecord(
                path=normalize_name(im["file_name"]),
                id=iid,
                width=w,
                height=h,
                frame_index=im.get("frame_index"),
                timestamp=float(im["timestamp"]) if im.get("timestamp") is not None else None,
            )
        )
    boxes: dict[int, list[Box]] = {}
    for n, a in enumerate(good, start=1):
        x, y, w, h = (float(v) for v in a["bbox"])
        score = a.get("score")
        boxes.setdefault(a["image_id"], []).append(
            Box(
                x1=x,
                y1=y,
                x2=x + w,
                y2=y + h,
                category_id=a["category_id"],
                id=a["id"] if a.get("id") is not None else n,
                image_id=a["image_id"],
                source=BoxSource.PREDICTED if score is not None else BoxSource.MANUAL,
                score=float(score) if score is not None else None,
                track_id=a.get("track_id"),
            )
        )
    return LabelSet(
        categories=categories,
        images=records,
        boxes=boxes,
        root=os.fspath(image_root) if image_root is not None else None,
        info=dict(info or {}),
    )


def read_coco(path: str | os.PathLike, image_root: str | os.PathLike | None = None) -> LabelSet:
    """Read and validate a COCO detection file.

    ``image_root`` is where the images live; it is needed only for images lacking
    ``width``/``height`` (their sizes are read from the image headers). Image ids and file
    names are kept as in the file (``ImageRecord.id``/``path``). Raises
    :class:`LabelFormatError` for an unreadable file, invalid JSON or any schema problem.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise LabelFormatError(p, ["file not found"]) from None
    except OSError as exc:
        raise LabelFormatError(p, [f"cannot read the file ({exc.strerror or exc})"]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelFormatError(p, [f"not UTF-8 text (byte {exc.start})"]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelFormatError(p, [f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]) from None
    except RecursionError:
        raise LabelFormatError(p, ["invalid JSON: nested too deeply"]) from None
    return from_coco_dict(data, p, image_root)
