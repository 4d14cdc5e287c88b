"""YOLO txt labels: ``labels/<image stem>.txt`` with ``class cx cy w h`` per line, normalised.

Class order is the project's: line ``k`` of ``classes.txt`` (and ``names[k]`` in
``data.yaml``) is ``ls.categories[k]`` — never sorted or otherwise reordered. Coordinates are
written as the shortest exact decimal of each normalised float, so a round trip is exact to
float precision (well inside 1e-6 relative). Reading needs the images (YOLO files carry no
sizes): every image under ``image_root`` becomes an image of the set, with its label file if
there is one (no file = no objects, the YOLO convention). Categories read back get ids
``1..n`` in class order.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path, PurePosixPath

from rnxstudio.core.model import Box, BoxSource, Category, ImageRecord, LabelSet, default_color
from rnxstudio.data.atomic import atomic_write_text
from rnxstudio.data.errors import LabelFormatError
from rnxstudio.data.labelpaths import per_image_name

__all__ = ["write_yolo", "read_yolo", "read_class_names", "label_name_for"]


def label_name_for(image_rel: str) -> str:
    """``labels/``-relative txt path for an image path relative to the image root."""
    p = PurePosixPath(*[q for q in PurePosixPath(image_rel.lstrip("/")).parts if q not in ("..", ".")] or ["_"])
    return str(p.with_suffix(".txt")) if p.suffix else f"{p}.txt"  # ".." dropped: never outside the folder


def _yaml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def write_yolo(ls: LabelSet, out_dir: str | os.PathLike, *, images_dir: str = "images") -> list[Path]:
    """Write ``out_dir/labels/*.txt`` (one per image, empty for images without boxes),
    ``out_dir/classes.txt`` and ``out_dir/data.yaml``; every file atomically.

    ``images_dir`` is what data.yaml names as the image folder (relative to ``out_dir``);
    copying the images there is the caller's job. Returns the label files written.
    """
    out = Path(out_dir)
    index = {c.id: k for k, c in enumerate(ls.categories)}
    names = [c.name for c in ls.categories]
    for n in names:
        if "\n" in n or "\r" in n:
            raise ValueError(f"class name {n!r} contains a line break; classes.txt cannot hold it")
    plan: dict[str, ImageRecord] = {}
    for im in ls.images:
        rel = per_image_name(im.path, ls.root)
        txt = label_name_for(rel)
        if txt in plan:
            raise ValueError(f"images {plan[txt].path!r} and {im.path!r} would share labels/{txt}")
        if im.width <= 0 or im.height <= 0:
            raise ValueError(f"image {im.path!r} has no size; YOLO coordinates need it")
        plan[txt] = im
    written = []
    for txt, im in plan.items():
        lines = []
        for b in ls.boxes.get(im.id, []):
            if b.category_id not in index:
                raise ValueError(f"box {b.id} on {im.path} has unknown category id {b.category_id}")
            cx = (b.x1 + b.x2) / 2.0 / im.width
            cy = (b.y1 + b.y2) / 2.0 / im.height
            w = (b.x2 - b.x1) / im.width
            h = (b.y2 - b.y1) / im.height
            lines.append(f"{index[b.category_id]} {cx!r} {cy!r} {w!r} {h!r}\n")
        target = out / "labels" / txt
        atomic_write_text(target, "".join(lines))
        written.append(target)
    atomic_write_text(out / "classes.txt", "".join(f"{n}\n" for n in names))
    yaml_lines = [
        "# written by rnxstudio; class order is fixed by the project",
        "path: .",
        f"train: {_yaml_str(images_dir)}",
        f"val: {_yaml_str(images_dir)}",
        f"nc: {len(names)}",
        "names:",
        *(f"  {k}: {_yaml_str(n)}" for k, n in enumerate(names)),
    ]
    atomic_write_text(out / "data.yaml", "\n".join(yaml_lines) + "\n")
    return written


# ----------------------------------------------------------------------------- class names


def _yaml_scalar(s: str) -> str:
    s = s.strip()
    if s.startswith('"'):
        return json.loads(s)
    if s.startswith("'") and s.endswith("'") and len(s) >= 2:
        return s[1:-1].replace("''", "'")
    return re.sub(r"\s+#.*$", "", s)


def _split_flow(body: str) -> list[str]:
    """Items of a YAML flow sequence body (``a, 'b, c', "d"``), quotes respected."""
    items, cur, quote = [], "", None
    for ch in body:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            cur += ch
        elif ch == ",":
            items.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        items.append(cur)
    return [_yaml_scalar(i) for i in items]


def _names_from_yaml(text: str) -> list[str] | None:
    """``names`` from a data.yaml: flow list, block list or ``index: name`` mapping."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^names\s*:\s*(.*)$", line)
        if not m:
            continue
        rest = m.group(1).strip()
        if rest.startswith("["):
            end = rest.rfind("]")
            return _split_flow(rest[1:end] if end > 0 else rest[1:])
        if rest.startswith("{"):
            pairs = _split_flow(rest[1 : rest.rfind("}")])
            mapping = {}
            for p in pairs:
                k, _, v = p.partition(":")
                mapping[int(k.strip())] = _yaml_scalar(v)
            return [mapping[k] for k in sorted(mapping)]
        seq: list[str] = []
        mapping: dict[int, str] = {}
        for sub in lines[i + 1 :]:
            if not sub.strip() or sub.strip().startswith("#"):
                continue
            if not sub[:1].isspace() and not sub.startswith("-"):
                break
            item = sub.strip()
            if item.startswith("- ") or item == "-":
                seq.append(_yaml_scalar(item[1:]))
            else:
                k, _, v = item.partition(":")
                mapping[int(k.strip())] = _yaml_scalar(v)
        if mapping:
            if sorted(mapping) != list(range(len(mapping))):
                raise ValueError(f"names indices {sorted(mapping)} are not 0..{len(mapping) - 1}")
            return [mapping[k] for k in range(len(mapping))]
        return seq
    return None


def read_class_names(folder: str | os.PathLike) -> list[str] | None:
    """Class names from ``classes.txt`` (preferred) or ``data.yaml`` in ``folder`` or its
    parent (for a ``labels/`` folder); None when neither exists. Order is kept as written."""
    base = Path(folder)
    for d in (base, base.parent):
        f = d / "classes.txt"
        if f.is_file():
            return [ln.strip() for ln in f.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    for d in (base, base.parent):
        for name in ("data.yaml", "data.yml"):
            f = d / name
            if f.is_file():
                return _names_from_yaml(f.read_text(encoding="utf-8-sig"))
    return None


# ----------------------------------------------------------------------------- reading


def _parse_line(tokens: list[str], n_classes: int) -> tuple[int, float, float, float, float, float | None] | str:
    """One label line -> (class, cx, cy, w, h, score) or a problem description."""
    try:
        cls_f = float(tokens[0])
        vals = [float(t) for t in tokens[1:]]
    except ValueError:
        return "non-numeric value"
    if not cls_f.is_integer() or not 0 <= cls_f < n_classes:
        return f"class {tokens[0]} is not one of 0..{n_classes - 1}"
    if not all(math.isfinite(v) for v in vals):
        return "non-finite value"
    score = None
    if len(vals) in (4, 5):
        cx, cy, w, h = vals[:4]
        score = vals[4] if len(vals) == 5 else None
    elif len(vals) >= 6 and len(vals) % 2 == 0:  # segmentation polygon: use its bounding box
        xs, ys = vals[0::2], vals[1::2]
        cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        w, h = max(xs) - min(xs), max(ys) - min(ys)
    else:
        return f"expected 5 values (class cx cy w h), got {len(tokens)}"
    if w <= 0 or h <= 0:
        return "width and height must be positive"
    slack = 1e-3
    if cx - w / 2 < -slack or cy - h / 2 < -slack or cx + w / 2 > 1 + slack or cy + h / 2 > 1 + slack:
        return "box is not inside the normalised 0..1 image"
    return int(cls_f), cx, cy, w, h, score


def read_yolo(
    path: str | os.PathLike,
    image_root: str | os.PathLike,
    class_names: list[str] | None = None,
) -> LabelSet:
    """Read YOLO labels for the images under ``image_root`` (recursive, natural order).

    ``path`` is the dataset folder holding ``labels/`` (and ``classes.txt``/``data.yaml``),
    or the labels folder itself. The label file of image ``sub/a.jpg`` is
    ``labels/sub/a.txt`` (or ``labels/a.txt``). Class names come from ``class_names``, else
    ``classes.txt``, else ``data.yaml``. A label file without a matching image, a bad line or a
    class index out of range is a problem; all problems raise one :class:`LabelFormatError`.
    """
    from rnxstudio.data.images import ImageLoadError, read_size
    from rnxstudio.data.scan import scan_folder

    src = Path(path)
    if not src.is_dir():
        raise LabelFormatError(src, ["folder not found"])
    labels_dir = src / "labels" if (src / "labels").is_dir() else src
    problems: list[str] = []
    names = list(class_names) if class_names is not None else None
    if names is None:
        try:
            names = read_class_names(src)
        except (ValueError, OSError) as exc:
            raise LabelFormatError(src, [f"cannot read class names from data.yaml ({exc})"]) from None
    if not names:
        raise LabelFormatError(src, ["no class names: add classes.txt or data.yaml, or pass class_names"])
    if len(set(names)) != len(names):
        problems.append(f"class names have duplicates: {names}")
    root = Path(image_root)
    if not root.is_dir():
        raise LabelFormatError(src, [f"image folder {root} not found"])
    image_rels = scan_folder(root, recursive=True)
    label_rels = set(scan_folder(labels_dir, recursive=True, extensions={".txt"}))
    label_rels.discard("classes.txt")
    used: set[str] = set()
    images: list[ImageRecord] = []
    boxes: dict[int, list[Box]] = {}
    for n, rel in enumerate(image_rels, start=1):
        txt = label_name_for(rel)
        if txt not in label_rels:
            flat = PurePosixPath(txt).name
            txt = flat if flat in label_rels and flat not in used else txt
        try:
            w, h = read_size(root / rel)
        except ImageLoadError as exc:
            if txt in label_rels:
                problems.append(f"{rel}: image unreadable, its labels cannot be placed ({exc.reason})")
                used.add(txt)
            continue
        images.append(ImageRecord(path=rel, id=n, width=w, height=h))
        if txt not in label_rels:
            continue
        used.add(txt)
        try:
            text = (labels_dir / txt).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"labels/{txt}: cannot read ({exc})")
            continue
        blist = []
        for ln, line in enumerate(text.splitlines(), start=1):
            tokens = line.split()
            if not tokens:
                continue
            parsed = _parse_line(tokens, len(names))
            if isinstance(parsed, str):
                problems.append(f"labels/{txt} line {ln}: {parsed}")
                continue
            cls, cx, cy, bw, bh, score = parsed
            x1, x2 = (cx - bw / 2) * w, (cx + bw / 2) * w
            y1, y2 = (cy - bh / 2) * h, (cy + bh / 2) * h
            source = BoxSource.PREDICTED if score is not None else BoxSource.MANUAL
            blist.append(Box(x1, y1, x2, y2, category_id=cls + 1, image_id=n, score=score, source=source))
        if blist:
            boxes[n] = blist
    for orphan in sorted(label_rels - used):
        problems.append(f"labels/{orphan}: no matching image under {root}")
    if problems:
        raise LabelFormatError(src, problems)
    categories = [Category(id=k + 1, name=nm, color=default_color(k)) for k, nm in enumerate(names)]
    return LabelSet(categories=categories, images=images, boxes=boxes, root=os.fspath(root))
