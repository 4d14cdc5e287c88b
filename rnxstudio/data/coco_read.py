"""Read and validate a COCO detection file into a :class:`LabelSet`, keeping what it says.

The whole file is validated first; one :class:`LabelFormatError` lists the problems and nothing
is returned half-built. Tolerated quirks of real exports: CVAT (``attributes``, ids from 1),
Label Studio (folder prefixes and ``\\/`` in ``file_name``, ids from 0, ``ignore``), Roboflow (a
supercategory-only category without boxes: left out of the categories and kept aside to be
written back), labelme2coco (Windows ``\\`` separators, ``null`` metadata, a ``type`` key), images
without ``width``/``height`` (read from the image under ``image_root``), non-contiguous ids.

What rnxstudio does not model is kept per record in ``extra["coco"]`` (see
docs/adr/0009-preserved-label-fields.md): the original image and annotation ``id``, the
annotation's ``bbox`` as read (so an unedited box is written back digit for digit and an edited
one is noticed), ``area``, ``segmentation``, ``attributes``, ``keypoints`` and any other key;
per image ``license``, ``coco_url``, ``flickr_url``, ``date_captured``...; per category e.g.
``keypoints``/``skeleton``; top-level ``info``, ``licenses`` and unknown keys (``type``).
``iscrowd=1`` becomes :attr:`Box.crowd`; ``difficult: 1`` (rnxstudio's own key, written for PASCAL
difficult boxes; other COCO tools ignore it) :attr:`Box.difficult`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnxstudio.core.model import Box, BoxSource, Category, ImageRecord, LabelSet, default_color
from rnxstudio.data.coco_geometry import check_segmentation, rings
from rnxstudio.data.errors import LabelFormatError
from rnxstudio.data.labelpaths import ImageResolver, normalize_name
from rnxstudio.data.schema import INT64_MAX, INT64_MIN

_EDGE_SLACK = 1.0  # px a box may start left of / above the image (rounding in other tools)
_STOP_AFTER = 200  # stop collecting problems after this many; the message lists the first few

# keys rnxstudio models itself; every other key of a record is kept in extra["coco"]
_IMAGE_KEYS = {"file_name", "width", "height", "frame_index", "timestamp"}
_ANN_KEYS = {"image_id", "category_id", "iscrowd", "difficult", "score", "track_id"}
_CAT_KEYS = {"id", "name", "color"}
_TOP_KEYS = {"images", "annotations", "categories", "info", "licenses"}


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


def _storable(v: Any, depth: int = 0) -> bool:
    """Whether a kept value can be stored and written back as JSON (no NaN/inf, no huge ints)."""
    if depth > 50:
        return False
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return INT64_MIN <= v <= INT64_MAX
    if isinstance(v, dict):
        return all(_storable(x, depth + 1) for x in v.values())
    if isinstance(v, list):
        return all(_storable(x, depth + 1) for x in v)
    return True


def _kept(record: dict, known: set[str], where: str, problems: _Problems) -> dict:
    """The keys of ``record`` rnxstudio keeps without modelling them."""
    out = {}
    for key, value in record.items():
        if key in known:
            continue
        if not _storable(value):
            problems.add(f"{where}.{key}: must not contain NaN, infinity or integers beyond 64 bits")
            continue
        out[key] = value
    return out


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
        kept = _kept(c, _CAT_KEYS, where, problems)
        if ok:
            if cid in by_id:
                problems.add(f"{where}.id: duplicate category id {cid}")
            else:
                by_id[cid] = dict(c, _kept=kept)
    return by_id


def _validate_images(
    imgs: list, problems: _Problems, size_of: Callable[[str], tuple[int, int] | str]
) -> dict[int, tuple[dict, int, int, dict]]:
    by_id: dict[int, tuple[dict, int, int, dict]] = {}
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
        kept = _kept(im, _IMAGE_KEYS, where, problems)
        if ok:
            if iid in by_id:
                problems.add(f"{where}.id: duplicate image id {iid}")
            else:
                by_id[iid] = (im, int(w), int(h), kept)
    return by_id


def _check_box(where: str, a: dict, images: dict, problems: _Problems) -> bool | None:
    """True for a usable bbox; None for a zero-width or zero-height one (a degenerate polygon
    some tools export: skipped and reported, not an error); False after adding the problem."""
    bbox = a.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        problems.add(f"{where}.bbox: must be a list [x, y, width, height], got {bbox!r}")
        return False
    if not all(_finite(v) for v in bbox):
        problems.add(f"{where}.bbox: values must be finite numbers, got {bbox!r}")
        return False
    x, y, w, h = bbox
    if w < 0 or h < 0:
        problems.add(f"{where}.bbox: width and height must be positive, got {w!r} x {h!r}")
        return False
    if x < -_EDGE_SLACK or y < -_EDGE_SLACK:
        problems.add(f"{where}.bbox: starts outside the image at ({x!r}, {y!r})")
        return False
    if w == 0 or h == 0:
        return None
    if x + w <= x or y + h <= y:
        problems.add(f"{where}.bbox: {bbox!r} is too small to represent at this position")
        return False
    iid = a.get("image_id")
    if _is_int(iid) and iid in images:
        _, iw, ih, _ = images[iid]
        if x >= iw or y >= ih:
            problems.add(f"{where}.bbox: {bbox!r} lies outside the {iw}x{ih} image {iid}")
            return False
    return True


def _validate_annotations(anns: list, images: dict, cats: dict[int, dict], problems: _Problems,
                          skipped: list[str]) -> list[tuple]:
    good: list[tuple[dict, dict]] = []
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
        box_ok = _check_box(where, a, images, problems)
        ok = bool(box_ok) and ok if box_ok is not None else ok
        if a.get("score") is not None and not _finite(a["score"]):
            problems.add(f"{where}.score: must be a finite number, got {a['score']!r}")
            ok = False
        if a.get("track_id") is not None and not _is_int(a["track_id"]):
            problems.add(f"{where}.track_id: must be an integer, got {a['track_id']!r}")
            ok = False
        for flag in ("iscrowd", "difficult"):  # True/False compare equal to 1/0
            if a.get(flag, 0) not in (0, 1, None):
                problems.add(f"{where}.{flag}: must be 0 or 1, got {a[flag]!r}")
                ok = False
        if a.get("area") is not None and not (_finite(a["area"]) and a["area"] >= 0):
            problems.add(f"{where}.area: must be a number >= 0, got {a['area']!r}")
            ok = False
        if ok and _is_int(iid) and iid in images:
            _, iw, ih, _ = images[iid]
            bad = check_segmentation(a.get("segmentation"), iw, ih)
            if bad:
                problems.add(f"{where}.segmentation: {bad}")
                ok = False
        kept = _kept(a, _ANN_KEYS, where, problems)
        if ok and box_ok is None:
            skipped.append(f"{where} (id {aid}): bbox {a['bbox']!r} has no area; left out")
        elif ok:
            good.append((a, kept))
    return good


PLACEHOLDER_NAMES = ("_background_", "__ignore__")  # labelme's label-file conventions, not classes


def _placeholder_categories(cats: dict[int, dict], used: set[int]) -> set[int]:
    """Categories that are not classes, when no box uses them: Roboflow's parent category (named
    as another category's supercategory) and labelme's ``_background_`` / ``__ignore__``."""
    return {
        cid
        for cid, c in cats.items()
        if cid not in used
        and (c["name"] in PLACEHOLDER_NAMES
             or any(o.get("supercategory") == c["name"] for oid, o in cats.items() if oid != cid))
    }


def _disagrees_with_polygon(a: dict) -> bool:
    """Whether an annotation's bbox is far from its polygon's bounds (some converters write wrong
    bboxes); the bbox is still what rnxstudio uses, the import says so."""
    pts = [r for r in rings(a.get("segmentation")) if len(r) >= 4]
    if a.get("iscrowd") or not pts:
        return False
    xs = [v for r in pts for v in r[0::2]]
    ys = [v for r in pts for v in r[1::2]]
    x, y, w, h = a["bbox"]
    tol_x, tol_y = max(2.0, 0.05 * w), max(2.0, 0.05 * h)
    return (abs(min(xs) - x) > tol_x or abs(max(xs) - (x + w)) > tol_x
            or abs(min(ys) - y) > tol_y or abs(max(ys) - (y + h)) > tol_y)


def _category(n: int, cid: int, c: dict) -> Category:
    extra = dict(c["_kept"])
    if c.get("supercategory", "") is None:
        extra["supercategory"] = None  # written back as null, not ""
    else:
        extra.pop("supercategory", None)
    if "supercategory" not in c:
        extra["_absent"] = ["supercategory"]  # Label Studio writes none: none is written back
    color = c.get("color")
    return Category(
        id=cid,
        name=c["name"],
        color=color if isinstance(color, str) and color.startswith("#") else default_color(n),
        supercategory=c.get("supercategory") or "",
        extra={"coco": extra} if extra else {},
    )


def from_coco_dict(data: Any, source: str | os.PathLike, image_root: str | os.PathLike | None = None) -> LabelSet:
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
    licenses = data.get("licenses", [])
    if licenses is not None and not isinstance(licenses, list):
        problems.add(f"'licenses' must be a list, not {type(licenses).__name__}")
        licenses = []
    top = _kept(data, _TOP_KEYS, "top level", problems)
    for key, value in (("info", info), ("licenses", licenses)):
        if not _storable(value):
            problems.add(f"'{key}' must not contain NaN, infinity or integers beyond 64 bits")
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
    skipped: list[str] = []
    good = _validate_annotations(anns, images, cats, problems, skipped)
    if problems:
        raise LabelFormatError(source, problems.items)

    dropped = _placeholder_categories(cats, {a["category_id"] for a, _ in good})
    categories = [_category(n, cid, c) for n, (cid, c) in enumerate((k, v) for k, v in cats.items() if k not in dropped)]
    if dropped:
        top["_placeholder_categories"] = [{k: v for k, v in cats[cid].items() if k != "_kept"} for cid in cats
                                          if cid in dropped]
    records = []
    for iid, (im, w, h, kept) in images.items():
        records.append(ImageRecord(
            path=normalize_name(im["file_name"]), id=iid, width=w, height=h, frame_index=im.get("frame_index"),
            timestamp=float(im["timestamp"]) if im.get("timestamp") is not None else None,
            extra={"coco": kept},
        ))
    boxes: dict[int, list[Box]] = {}
    for n, (a, kept) in enumerate(good, start=1):
        x, y, w, h = (float(v) for v in a["bbox"])
        score = a.get("score")
        boxes.setdefault(a["image_id"], []).append(Box(
            x1=x, y1=y, x2=x + w, y2=y + h, category_id=a["category_id"],
            id=a["id"] if a.get("id") is not None else n, image_id=a["image_id"],
            source=BoxSource.PREDICTED if score is not None else BoxSource.MANUAL,
            score=float(score) if score is not None else None, track_id=a.get("track_id"),
            crowd=bool(a.get("iscrowd")), difficult=bool(a.get("difficult")), extra={"coco": kept},
        ))
    return LabelSet(
        categories=categories, images=records, boxes=boxes,
        root=os.fspath(image_root) if image_root is not None else None,
        info=dict(info or {}), licenses=list(licenses or []), extra={"coco": top} if top else {},
        skipped=[f"{Path(source).name}: {s}" for s in skipped], warnings=_warnings(Path(source).name, good),
    )


def _warnings(name: str, good: list[tuple[dict, dict]]) -> list[str]:
    off = [a for a, _ in good if _disagrees_with_polygon(a)]
    if not off:
        return []
    return [f"{name}: {len(off)} of {len(good)} boxes do not match their own polygon (e.g. annotation id "
            f"{off[0].get('id')}); the bbox was used as written"]


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
    except IsADirectoryError:
        raise LabelFormatError(p, ["is a folder, not a COCO .json file"]) from None
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
