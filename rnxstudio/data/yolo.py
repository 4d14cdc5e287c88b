"""YOLO txt labels: ``labels/<image stem>.txt`` with ``class cx cy w h`` per line, normalised.

Class order is the project's: line ``k`` of ``classes.txt`` (and ``names[k]`` in ``data.yaml``) is
``ls.categories[k]`` — never sorted or otherwise reordered. Coordinates are written as the
shortest exact decimal of each normalised float, so a round trip is exact to float precision
(well inside 1e-6 relative). Reading needs the images (YOLO files carry no sizes): every image
under ``image_root`` becomes an image of the set, with its label file if there is one (no file =
no objects, the YOLO convention). Categories read back get ids ``1..n`` in class order. Lines
with more than 5 values are polygons or 4-corner boxes (Label Studio, YOLO-seg/OBB): their
bounding box is used. README / licence ``.txt`` files are never label files.

Writing a dataset users can train on as is (``copy_images``): the images are copied (or
symlinked) to ``images/[<split>/]``, labels to ``labels/[<split>/]`` beside them, and
``data.yaml`` names the folders under an absolute ``path`` (Ultralytics resolves a relative
``path`` against its own datasets folder, not the yaml's).
"""

from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path, PurePosixPath

from rnxstudio.core.model import Box, BoxSource, Category, ImageRecord, LabelSet, default_color
from rnxstudio.data.atomic import atomic_write_text
from rnxstudio.data.errors import LabelFormatError
from rnxstudio.data.labelpaths import per_image_name
from rnxstudio.data.yolo_yaml import YAML_NAMES, names_from_yaml, yaml_str

__all__ = ["write_yolo", "read_yolo", "read_class_names", "label_name_for", "is_label_txt", "IMAGE_MODES"]

IMAGE_MODES = ("copy", "link")
_names_from_yaml = names_from_yaml  # the name tests and older code use
_NOT_LABELS = re.compile(r"^(readme|licen[cs]e|classes|notes)([._ -].*)?\.txt$", re.IGNORECASE)
_SPLIT_FOLDERS = ("train", "val", "test")


def is_label_txt(name: str) -> bool:
    """Whether a ``.txt`` file name can be a YOLO label file (``classes.txt``, README and licence
    files that exports ship next to the labels cannot)."""
    return name.lower().endswith(".txt") and not _NOT_LABELS.match(PurePosixPath(name).name)


def label_name_for(image_rel: str) -> str:
    """``labels/``-relative txt path for an image path relative to the image root."""
    p = PurePosixPath(*[q for q in PurePosixPath(image_rel.lstrip("/")).parts if q not in ("..", ".")] or ["_"])
    return str(p.with_suffix(".txt")) if p.suffix else f"{p}.txt"  # ".." dropped: never outside the folder


def _dataset_names(ls: LabelSet, splits: bool) -> dict[int, str]:
    """Image id -> its path inside ``images/[<split>/]``: the project path without a leading
    ``<split>/`` or ``images/`` folder (Roboflow's ``train/images/a.jpg`` becomes ``a.jpg``),
    unless that would make two names collide."""
    full = {im.id: per_image_name(im.path, ls.root) for im in ls.images}
    short = {}
    for im in ls.images:
        parts = list(PurePosixPath(full[im.id]).parts)
        if splits and len(parts) > 1 and parts[0] in {im.split or "", "train", "valid", "val", "test"}:
            parts.pop(0)
        if len(parts) > 1 and parts[0] == "images":
            parts.pop(0)
        short[im.id] = "/".join(parts)
    key = (lambda im: (_split_folder(im) if splits else "", short[im.id]))
    if len({key(im) for im in ls.images}) == len(ls.images):
        return short
    return full


def _split_folder(im: ImageRecord) -> str:
    return im.split if im.split in _SPLIT_FOLDERS else "train"


def _place_image(src: str, dst: Path, mode: str, notes: dict[str, int]) -> None:
    """Put the image ``src`` at ``dst``: nothing when it is already there (same size and time, or
    the same link), else a symbolic link or a copy, swapped in atomically (a failed copy leaves the
    previous file)."""
    if os.path.abspath(src) == os.path.abspath(dst):
        return
    if mode == "link" and dst.is_symlink() and os.readlink(dst) == os.path.abspath(src):
        return
    if mode == "copy" and dst.is_file() and not dst.is_symlink():
        a, b = os.stat(src), os.stat(dst)
        if (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns):
            return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        if mode == "link":
            try:
                os.symlink(os.path.abspath(src), tmp)
            except OSError:  # no symlinks here (Windows without the privilege, some file systems)
                notes["links_copied"] = notes.get("links_copied", 0) + 1
                shutil.copy2(src, tmp)
        else:
            shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        raise


def write_yolo(ls: LabelSet, out_dir: str | os.PathLike, *, images_dir: str = "images",
               copy_images: str | None = None, splits: bool = False,
               notes: dict[str, int] | None = None) -> list[Path]:
    """Write YOLO labels (one file per image, empty for images without boxes), ``classes.txt``
    and ``data.yaml`` under ``out_dir``; every file atomically. Returns the label files.

    Without ``copy_images`` only labels are written (``labels/<image path>.txt``) and data.yaml
    names ``images_dir``; placing the images is the caller's job. With ``copy_images`` =
    ``"copy"`` or ``"link"`` the images are put at ``images/[<split>/]<name>`` (``splits``: by
    each image's split, ``train`` when it has none) and data.yaml is valid as written. Crowd
    regions are not written (YOLO cannot mark them; a trainer would learn them as objects):
    ``notes["crowd_skipped"]``; ``notes["difficult_written"]`` counts difficult boxes written
    as ordinary ones.
    """
    if copy_images is not None and copy_images not in IMAGE_MODES:
        raise ValueError(f"copy_images must be one of {IMAGE_MODES} or None, not {copy_images!r}")
    notes = {} if notes is None else notes
    out = Path(out_dir)
    index = {c.id: k for k, c in enumerate(ls.categories)}
    names = [c.name for c in ls.categories]
    for n in names:
        if "\n" in n or "\r" in n:
            raise ValueError(f"class name {n!r} contains a line break; classes.txt cannot hold it")
    dataset = _dataset_names(ls, splits) if copy_images else {}
    plan: dict[str, ImageRecord] = {}
    for im in ls.images:
        if copy_images:
            sub = f"{_split_folder(im)}/" if splits else ""
            txt = f"labels/{sub}{label_name_for(dataset[im.id])}"
        else:
            txt = f"labels/{label_name_for(per_image_name(im.path, ls.root))}"
        if txt in plan:
            raise ValueError(f"images {plan[txt].path!r} and {im.path!r} would share {txt}")
        if im.width <= 0 or im.height <= 0:
            raise ValueError(f"image {im.path!r} has no size; YOLO coordinates need it")
        plan[txt] = im
    written = []
    used_splits: set[str] = set()
    for txt, im in plan.items():
        lines = []
        for b in ls.boxes.get(im.id, []):
            if b.category_id not in index:
                raise ValueError(f"box {b.id} on {im.path} has unknown category id {b.category_id}")
            if b.crowd:
                notes["crowd_skipped"] = notes.get("crowd_skipped", 0) + 1
                continue
            if b.difficult:
                notes["difficult_written"] = notes.get("difficult_written", 0) + 1
            cx = (b.x1 + b.x2) / 2.0 / im.width
            cy = (b.y1 + b.y2) / 2.0 / im.height
            w = (b.x2 - b.x1) / im.width
            h = (b.y2 - b.y1) / im.height
            lines.append(f"{index[b.category_id]} {cx!r} {cy!r} {w!r} {h!r}\n")
        target = out / txt
        atomic_write_text(target, "".join(lines))
        written.append(target)
        if copy_images:
            sub = f"{_split_folder(im)}/" if splits else ""
            used_splits.add(_split_folder(im))
            src = im.path if os.path.isabs(im.path) or ls.root is None else os.path.join(ls.root, im.path)
            _place_image(src, out / "images" / f"{sub}{dataset[im.id]}", copy_images, notes)
    atomic_write_text(out / "classes.txt", "".join(f"{n}\n" for n in names))
    atomic_write_text(out / "data.yaml", _data_yaml(out, names, images_dir, copy_images is not None, splits,
                                                    used_splits))
    return written


def _data_yaml(out: Path, names: list[str], images_dir: str, complete: bool, splits: bool,
               used: set[str]) -> str:
    lines = ["# written by rnxstudio; class order is fixed by the project"]
    if complete:
        lines += ["# path is absolute: Ultralytics resolves a relative one against its own datasets folder",
                  f"path: {yaml_str(str(out.resolve()))}"]
        if splits:
            train = "images/train"
            val = "images/val" if "val" in used else train
            lines += [f"train: {yaml_str(train)}", f"val: {yaml_str(val)}"]
            if "test" in used:
                lines.append(f"test: {yaml_str('images/test')}")
        else:
            lines += [f"train: {yaml_str('images')}", f"val: {yaml_str('images')}"]
    else:
        lines += ["path: .", f"train: {yaml_str(images_dir)}", f"val: {yaml_str(images_dir)}"]
    lines += [f"nc: {len(names)}", "names:", *(f"  {k}: {yaml_str(n)}" for k, n in enumerate(names))]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- class names


def _names_from_notes(path: Path) -> list[str] | None:
    """Label Studio's notes.json: ``{"categories": [{"id": 0, "name": ...}, ...]}``."""
    import json

    data = json.loads(path.read_text(encoding="utf-8-sig"))
    cats = data.get("categories") if isinstance(data, dict) else None
    if not isinstance(cats, list) or not all(isinstance(c, dict) and "name" in c for c in cats):
        return None
    ordered = sorted(cats, key=lambda c: c.get("id", 0))
    return [str(c["name"]) for c in ordered]


def read_class_names(folder: str | os.PathLike) -> list[str] | None:
    """Class names from ``classes.txt`` (preferred), a ``data.yaml`` or Label Studio's
    ``notes.json`` in ``folder`` or up to two folders above it (a ``labels/`` or
    ``labels/train/`` folder given alone); None when there is none. Order is kept as written."""
    base = Path(folder)
    levels = [base, base.parent, base.parent.parent]
    for d in levels:
        f = d / "classes.txt"
        if f.is_file():
            return [ln.strip() for ln in f.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    for d in levels:
        for name in YAML_NAMES:
            f = d / name
            if f.is_file():
                names = names_from_yaml(f.read_text(encoding="utf-8-sig"))
                if names is not None:
                    return names
        if (d / "notes.json").is_file():
            names = _names_from_notes(d / "notes.json")
            if names:
                return names
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
    elif len(vals) >= 6 and len(vals) % 2 == 0:  # polygon / 4 corners: use its bounding box
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


def _count_lines(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines() if line.split())
    except OSError:
        return 0


def read_yolo(
    path: str | os.PathLike,
    image_root: str | os.PathLike,
    class_names: list[str] | None = None,
    *,
    missing_images: str = "error",
) -> LabelSet:
    """Read YOLO labels for the images under ``image_root`` (recursive, natural order).

    ``path`` is the dataset folder holding ``labels/`` (and ``classes.txt``/``data.yaml``),
    or the labels folder itself. The label file of image ``sub/a.jpg`` is
    ``labels/sub/a.txt`` (or ``labels/a.txt``). Class names come from ``class_names``, else
    ``classes.txt``, ``data.yaml`` or ``notes.json`` (see :func:`read_class_names`). A bad line
    or a class index out of range is a problem; a label file without a matching image is one
    too, unless ``missing_images="skip"``: then its boxes are counted in ``LabelSet.unplaced``.
    All problems raise one :class:`LabelFormatError`.
    """
    from rnxstudio.data.images import ImageLoadError, read_size
    from rnxstudio.data.scan import scan_folder

    if missing_images not in ("error", "skip"):
        raise ValueError(f"missing_images must be 'error' or 'skip', not {missing_images!r}")
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
            raise LabelFormatError(src, [f"cannot read class names ({exc})"]) from None
    if not names:
        raise LabelFormatError(src, ["no class names: add classes.txt or data.yaml beside the labels, or give them "
                                     "in order (rnxstudio import --names a,b,c)"])
    if len(set(names)) != len(names):
        problems.append(f"class names have duplicates: {names}")
    root = Path(image_root)
    if not root.is_dir():
        if missing_images == "error":
            raise LabelFormatError(src, [f"image folder {root} not found"])
        image_rels = []
    else:
        image_rels = scan_folder(root, recursive=True)
    label_rels = {r for r in scan_folder(labels_dir, recursive=True, extensions={".txt"}) if is_label_txt(r)}
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
    unplaced: dict[str, int] = {}
    for orphan in sorted(label_rels - used):
        if missing_images == "error":
            problems.append(f"labels/{orphan}: no matching image under {root}")
        else:
            unplaced[str(labels_dir / orphan)] = _count_lines(labels_dir / orphan)
    if problems:
        raise LabelFormatError(src, problems)
    categories = [Category(id=k + 1, name=nm, color=default_color(k)) for k, nm in enumerate(names)]
    return LabelSet(categories=categories, images=images, boxes=boxes, root=os.fspath(root), unplaced=unplaced)
