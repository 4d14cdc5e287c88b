"""Real exports as they are unzipped: which label files a folder (or a file in it) holds, where
their images are, and which split each belongs to.

Recognised layouts (docs/formats.md has the full table):

* YOLO with ``data.yaml`` (Ultralytics, Roboflow YOLOv5/v8): ``train``/``val``/``test`` image
  folders, labels beside them in ``labels``; Roboflow's ``../train/images`` is found from the
  export's root.
* Roboflow COCO: one folder per split, each with ``_annotations.coco.json`` beside its images.
* COCO with an ``annotations/`` folder: CVAT (``instances_default.json`` + ``images/``), MS COCO
  (``instances_train2017.json`` + ``images/train2017`` or ``train2017/``); the split comes from
  the file name.
* Label Studio COCO (``result.json`` + ``images/``) and YOLO (``classes.txt``, ``notes.json``,
  ``images/``, ``labels/``); any ``images/`` + ``labels/`` YOLO folder.
* labelme2coco (``annotations.json`` + ``JPEGImages/``), labelme2voc and any VOC folder
  (``Annotations/`` + ``JPEGImages/``), the VOCdevkit (``VOCdevkit/VOC2007/...`` with
  ``ImageSets/Main/*.txt`` splits).

README files, ``desktop.ini``, ``.DS_Store`` and the like are never label files. A label file of
no known layout is a layout of its own whose images are the importing project's
(``LabelSource.image_dir`` None).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from rnxstudio.core.model import Category, LabelSet
from rnxstudio.data.errors import LabelFormatError
from rnxstudio.data.yolo_yaml import YAML_NAMES, normalize_split, split_sources

FORMATS = ("coco", "voc", "yolo")
ROBOFLOW_COCO = "_annotations.coco.json"
_SPLIT_NAMES = {"train", "val", "valid", "validation", "test", "trainval"}
_STRAY = {"desktop.ini", "thumbs.db", ".ds_store"}


@dataclass
class LabelSource:
    """One label file or folder of a layout. ``image_dir`` is what its image names are relative
    to (None: the importing project's root). ``split`` applies to all its images; ``split_of``
    maps an image's stem to its split (VOC ImageSets)."""

    fmt: str
    path: Path
    image_dir: Path | None = None
    split: str | None = None
    split_of: dict[str, str] = field(default_factory=dict)
    listed: list[Path] | None = None  # YOLO: the images a .txt list names


@dataclass
class Layout:
    """What was found: a human name, the folder project paths are relative to, the label
    sources, and the image folders (relative to ``root``; empty = all of ``root``)."""

    name: str
    root: Path
    sources: list[LabelSource]
    image_dirs: list[str] = field(default_factory=list)
    class_names: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def fmt(self) -> str:
        return self.sources[0].fmt if self.sources else "coco"


def _children(d: Path) -> dict[str, Path]:
    try:
        return {c.name.lower(): c for c in d.iterdir() if c.name.lower() not in _STRAY and not c.name.startswith(".")}
    except OSError:
        return {}


def _rel(path: Path, root: Path) -> str:
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return ""
    return "" if rel == "." else rel


def _looks_like_coco(path: Path) -> bool:
    """A cheap check that a .json is COCO detection (reads at most the first MiB)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return False
    return b'"images"' in head and (b'"annotations"' in head or b'"categories"' in head)


def _yolo_yaml_layout(yaml_path: Path) -> Layout:
    from rnxstudio.data.yolo import read_class_names

    text = yaml_path.read_text(encoding="utf-8-sig")
    sources, missing = split_sources(yaml_path, text)
    root = yaml_path.parent
    out: list[LabelSource] = []
    image_dirs: list[str] = []
    notes = [f"{yaml_path.name} names {m}, which is not here" for m in missing]
    for s in sources:
        if s.listed is not None:
            out.append(LabelSource("yolo", yaml_path.parent, None, s.split, listed=s.listed))
            continue
        out.append(LabelSource("yolo", s.labels, s.images, s.split))
        if s.images.is_dir() and _rel(s.images, root):
            image_dirs.append(_rel(s.images, root))
    if not out:  # names only: labels/ (+ images/) beside it, or each split folder's labels
        for d in [root, *(root / n for n in ("train", "valid", "val", "test"))]:
            if (d / "labels").is_dir():
                split = normalize_split(d.name) if d != root else None
                out.append(LabelSource("yolo", d / "labels", d / "images" if (d / "images").is_dir() else None, split))
                if (d / "images").is_dir():
                    image_dirs.append(_rel(d / "images", root))
    try:
        names = read_class_names(root)
    except (ValueError, OSError) as exc:
        raise LabelFormatError(yaml_path, [f"cannot read names ({exc})"]) from None
    return Layout("YOLO dataset (data.yaml)", root, out, image_dirs, names, notes)


def _coco_annotations_layout(d: Path, files: list[Path]) -> Layout:
    sources, image_dirs = [], []
    for f in files:
        stem = f.stem
        tail = stem.split("_", 1)[1] if stem.startswith(("instances_", "person_keypoints_")) else stem
        split = None if tail in ("default", "annotations") else normalize_split(re.sub(r"\d{4}$", "", tail))
        cands = [d / "images" / tail, d / tail, d / "images", d]
        image_dir = next(c for c in cands if c.is_dir())
        sources.append(LabelSource("coco", f, image_dir, split))
        if _rel(image_dir, d):
            image_dirs.append(_rel(image_dir, d))
    name = "CVAT COCO export" if any(f.name == "instances_default.json" for f in files) else "COCO annotations/ folder"
    return Layout(name, d, sources, sorted(set(image_dirs)))


def _voc_layout(root: Path, voc_dirs: list[Path], name: str) -> Layout:
    sources, image_dirs = [], []
    for v in voc_dirs:
        images = v / "JPEGImages"
        split_of: dict[str, str] = {}
        main = v / "ImageSets" / "Main"
        if main.is_dir():
            lists = {p.stem: p for p in main.glob("*.txt") if "_" not in p.stem}  # not per-class lists
            for split in ("trainval", "train", "val", "test"):  # later (finer) lists win
                if split in lists:
                    for line in lists[split].read_text(encoding="utf-8-sig", errors="replace").splitlines():
                        if line.split():
                            split_of[line.split()[0]] = split
        sources.append(LabelSource("voc", v / "Annotations", images if images.is_dir() else None, None, split_of))
        if images.is_dir():
            image_dirs.append(_rel(images, root))
    return Layout(name, root, sources, image_dirs)


def _folder_layout(d: Path) -> Layout | None:
    kids = _children(d)
    for n in YAML_NAMES:
        if n in kids and kids[n].is_file():
            return _yolo_yaml_layout(kids[n])
    splits = [c for c in sorted(d.iterdir()) if c.is_dir() and (c / ROBOFLOW_COCO).is_file()] if d.is_dir() else []
    if splits:
        sources = [LabelSource("coco", c / ROBOFLOW_COCO, c, normalize_split(c.name)
                               if c.name.lower() in _SPLIT_NAMES else c.name) for c in splits]
        return Layout("Roboflow COCO export", d, sources, [c.name for c in splits])
    if ROBOFLOW_COCO.lower() in kids:
        return Layout("Roboflow COCO split", d, [LabelSource("coco", kids[ROBOFLOW_COCO.lower()], d,
                                                             normalize_split(d.name) if d.name.lower() in _SPLIT_NAMES
                                                             else None)])
    ann = kids.get("annotations")
    if ann is not None and ann.is_dir():
        jsons = sorted(p for p in ann.glob("*.json") if _looks_like_coco(p))
        if jsons:
            return _coco_annotations_layout(d, jsons)
    voc_root = kids.get("vocdevkit") if "vocdevkit" in kids else (d if d.name.lower() == "vocdevkit" else None)
    if voc_root is not None and voc_root.is_dir():
        vocs = [v for v in sorted(voc_root.iterdir()) if (v / "Annotations").is_dir()]
        if vocs:
            return _voc_layout(d, vocs, "PASCAL VOCdevkit")
    if ann is not None and ann.is_dir() and any(ann.glob("*.xml")):
        name = "labelme2voc output" if (d / "class_names.txt").is_file() else "PASCAL VOC folder"
        return _voc_layout(d, [d], name)
    if (d / "ImageSets" / "Main").is_dir() and any(d.rglob("*.xml")):  # rnxstudio's own VOC export
        v = _voc_layout(d, [d], "PASCAL VOC export with ImageSets")
        return replace(v, sources=[replace(v.sources[0], path=d, image_dir=None)])
    images = kids.get("images")
    images = images if images is not None and images.is_dir() else None
    for label_file, name in (("result.json", "Label Studio COCO export"), ("annotations.json", "labelme2coco output")):
        f = kids.get(label_file)
        if f is not None and f.is_file() and _looks_like_coco(f):
            if label_file == "annotations.json" and "jpegimages" not in kids and images is None:
                break  # a bare annotations.json beside images: a plain COCO file, not a layout
            dirs = ["JPEGImages"] if "jpegimages" in kids else (["images"] if images is not None else [])
            return Layout(name, d, [LabelSource("coco", f, d)], dirs)
    labels = kids.get("labels")
    if labels is not None and labels.is_dir():
        name = "Label Studio YOLO export" if "notes.json" in kids else "YOLO folder (images/ + labels/)"
        return Layout(name, d, [LabelSource("yolo", labels, images)], ["images"] if images is not None else [])
    return None


def _file_layout(f: Path) -> Layout | None:
    name = f.name.lower()
    if name in YAML_NAMES:
        return _yolo_yaml_layout(f)
    if name.startswith("readme") or name in _STRAY or name in ("classes.txt", "notes.json", "class_names.txt"):
        return _folder_layout(f.parent)  # not a label file: the layout of the folder it describes
    if f.suffix.lower() == ".json":
        if f.parent.name.lower() == "annotations" and f.parent.parent != f.parent:
            return replace(_coco_annotations_layout(f.parent.parent, [f]), name="COCO annotations/ file")
        folder = _folder_layout(f.parent)
        if folder is not None and any(s.path == f for s in folder.sources):
            return replace(folder, sources=[s for s in folder.sources if s.path == f])
        return Layout("COCO file", f.parent, [LabelSource("coco", f, None)])
    if f.suffix.lower() == ".xml":
        parent = f.parent
        if parent.name.lower() == "annotations" and (parent.parent / "JPEGImages").is_dir():
            v = _voc_layout(parent.parent, [parent.parent], "PASCAL VOC file")
            return replace(v, sources=[replace(v.sources[0], path=f)])
        return Layout("PASCAL VOC file", f.parent, [LabelSource("voc", f, None)])
    return None


def detect_layout(path: str | os.PathLike) -> Layout | None:
    """The layout of an unzipped export (a folder, or a file in it), or None when nothing known
    is there. Raises LabelFormatError for a data.yaml whose names cannot be read."""
    p = Path(path)
    if p.is_dir():
        return _folder_layout(p)
    if p.is_file():
        return _file_layout(p)
    return None


# ----------------------------------------------------------------------------- reading


def _read_source(src: LabelSource, base: Path, class_names: list[str] | None, one_based: bool) -> LabelSet:
    if src.fmt == "coco":
        from rnxstudio.data.coco import read_coco

        return read_coco(src.path, image_root=base)
    if src.fmt == "voc":
        from rnxstudio.data.voc import read_voc

        return read_voc(src.path, image_root=base, class_names=class_names, one_based=one_based)
    from rnxstudio.data.yolo import read_yolo

    if src.listed is None:
        return read_yolo(src.path, base, class_names, missing_images="skip")
    from rnxstudio.data.yolo_yaml import labels_dir_for

    merged = LabelSet()
    for parent in sorted({p.parent for p in src.listed}):
        part = read_yolo(labels_dir_for(parent), parent, class_names, missing_images="skip")
        wanted = {p.name for p in src.listed if p.parent == parent}
        keep = [im for im in part.images if PurePosixPath(im.path).name in wanted]
        merged = _append(merged, replace(part, images=[replace(im, path=str(parent / im.path)) for im in keep]),
                         base)
    return merged


def _append(merged: LabelSet, part: LabelSet, base: Path, prefix: str | None = None, split: str | None = None,
            split_of: dict[str, str] | None = None) -> LabelSet:
    """Add ``part`` to ``merged``: categories by name, images re-keyed, paths under ``prefix``."""
    by_name = {c.name: c for c in merged.categories}
    remap: dict[int, int] = {}
    for c in part.categories:
        if c.name not in by_name:
            used = {x.id for x in merged.categories}
            cid = c.id if c.id not in used else max(used, default=0) + 1
            by_name[c.name] = replace(c, id=cid)
            merged.categories.append(by_name[c.name])
        remap[c.id] = by_name[c.name].id
    next_id = max((im.id for im in merged.images), default=0) + 1
    for im in part.images:
        path = im.path
        if prefix is not None and not os.path.isabs(path):
            path = f"{prefix}/{path}" if prefix else path
        elif prefix is None and not os.path.isabs(path):
            path = str(base / path)
        named = PurePosixPath(im.path)
        s = split or (split_of or {}).get(str(named.with_suffix(""))) or (split_of or {}).get(named.stem) or im.split
        merged.images.append(replace(im, id=next_id, path=path, split=s))
        merged.boxes[next_id] = [replace(b, image_id=next_id, category_id=remap[b.category_id])
                                 for b in part.boxes_for(im)]
        next_id += 1
    merged.info = merged.info or part.info
    merged.licenses = merged.licenses or part.licenses
    merged.extra = merged.extra or part.extra
    merged.unplaced.update(part.unplaced)
    merged.skipped += part.skipped
    merged.warnings += part.warnings
    return merged


def read_layout(layout: Layout, *, image_root: str | os.PathLike | None = None,
                class_names: list[str] | None = None, one_based: bool = False) -> LabelSet:
    """Every label source of ``layout`` as one LabelSet: image paths relative to ``layout.root``
    (or absolute when outside it), the split recorded per image, categories merged by name.
    ``image_root`` is where sources without an image folder of their own find their images
    (the importing project's root). Raises LabelFormatError naming the first bad file."""
    names = class_names if class_names is not None else layout.class_names
    merged = LabelSet(root=str(layout.root))
    fallback = Path(image_root) if image_root is not None else layout.root
    for src in layout.sources:
        base = src.image_dir if src.image_dir is not None and src.image_dir.exists() else fallback
        part = _read_source(src, base, names if src.fmt != "coco" else None, one_based)
        rel = _rel(base, layout.root) if base.resolve().is_relative_to(layout.root.resolve()) else None
        merged = _append(merged, part, base, rel, src.split, src.split_of)
    if not merged.categories and names:
        merged.categories = [Category(id=k + 1, name=n) for k, n in enumerate(names)]
    merged.warnings += layout.notes
    return merged


def describe(layout: Layout) -> str:
    """One line for a status bar or the CLI: what was found."""
    files = ", ".join(_rel(s.path, layout.root) or s.path.name for s in layout.sources[:4])
    more = f" and {len(layout.sources) - 4} more" if len(layout.sources) > 4 else ""
    return f"{layout.name} at {layout.root} ({files}{more})"

