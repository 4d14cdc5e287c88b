"""Export a project's labels to COCO / VOC / YOLO and import label files into it.

The CLI (`rnxstudio export` / `rnxstudio import`) and the GUI's File menu both call these two
functions, so both behave the same: only a person's boxes (manual + accepted) are exported;
video frames are written as PNG files that the label files reference; an import is all or
nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rnxstudio.data.project import fill_image_sizes, write_frames

FORMATS = ("coco", "voc", "yolo")


class ExchangeError(Exception):
    """Nothing to export, an unknown format, or a file that is not labels."""


@dataclass
class ExportResult:
    target: Path
    fmt: str
    images: int
    boxes: int
    categories: int
    image_root: str | None
    skipped: list[str] = field(default_factory=list)  # "path: reason" of unreadable images

    def summary(self) -> str:
        return (f"exported {self.images} images, {self.boxes} boxes, {self.categories} categories "
                f"as {self.fmt} to {self.target}")


def export_labels(store, fmt: str, out: str | os.PathLike, *, verified_only: bool = False,
                  image_ids=None) -> ExportResult:
    """Write the project's labels. For COCO, ``out`` is a folder (file annotations.json) or a
    ``.json`` path; for VOC / YOLO a folder. ``image_ids`` limits the export to those images.
    Files are written atomically."""
    if fmt not in FORMATS:
        raise ExchangeError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    fill_image_sizes(store, None if image_ids is None else list(image_ids))
    ls = store.to_labelset(verified_only=verified_only, image_ids=image_ids)
    unsized = [r for r in ls.images if r.width <= 0 or r.height <= 0]
    skipped = [f"{r.path}: {r.error or 'size unknown'}" for r in unsized]
    if unsized:
        keep = [r for r in ls.images if r.width > 0 and r.height > 0]
        ls.images = keep
        ls.boxes = {r.id: ls.boxes.get(r.id, []) for r in keep}
    if not ls.images:
        raise ExchangeError(f"{store.path}: nothing to export"
                            + (" (no image is marked verified)" if verified_only else ""))
    coco_file = out if fmt == "coco" and out.suffix.lower() == ".json" else out / "annotations.json"
    frames_dir = coco_file.parent if fmt == "coco" else out
    if any(r.frame_index is not None for r in ls.images):
        ls = write_frames(store, ls, frames_dir)
    try:
        if fmt == "coco":
            from rnxstudio.data.coco import write_coco

            write_coco(ls, coco_file)
            target = coco_file
        elif fmt == "voc":
            from rnxstudio.data.voc import write_voc

            write_voc(ls, out)
            target = out
        else:
            from rnxstudio.data.yolo import write_yolo

            write_yolo(ls, out)
            target = out
    except ValueError as exc:  # the labels cannot be expressed in this format (e.g. a.jpg + a.png in VOC)
        raise ExchangeError(f"cannot export {store.path.name} as {fmt}: {exc}") from exc
    return ExportResult(target, fmt, len(ls.images), ls.num_boxes, len(ls.categories), ls.root, skipped)


def detect_format(path: str | os.PathLike) -> str | None:
    """Guess the label format of a file or folder from names only; None when unsure."""
    p = Path(path)
    if p.is_file():
        return {".json": "coco", ".xml": "voc", ".txt": "yolo", ".yaml": "yolo", ".yml": "yolo"}.get(p.suffix.lower())
    if p.is_dir():
        names = {c.name.lower() for c in p.iterdir()}
        # XML first: a VOC export also carries a classes.txt
        if any(n.endswith(".xml") for n in names) or "annotations" in names and any(
                c.suffix.lower() == ".xml" for c in (p / "annotations").iterdir()):
            return "voc"
        if {"classes.txt", "data.yaml", "labels"} & names:
            return "yolo"
        if any(n.endswith(".txt") for n in names):
            return "yolo"
    return None


def import_labels(store, src: str | os.PathLike, fmt: str = "auto", *, match: str = "relpath-then-basename"):
    """Read ``src`` and merge it into the project (all or nothing); returns the ImportReport."""
    src = Path(src)
    if not src.exists():
        raise ExchangeError(f"{src}: no such file or folder")
    fmt = detect_format(src) if fmt == "auto" else fmt
    if fmt is None:
        raise ExchangeError(f"{src}: cannot tell the label format; choose COCO, VOC or YOLO explicitly")
    root = store.root
    if fmt == "coco":
        from rnxstudio.data.coco import read_coco

        ls = read_coco(src, image_root=root)
    elif fmt == "voc":
        from rnxstudio.data.voc import read_voc

        ls = read_voc(src, image_root=root)
    elif fmt == "yolo":
        from rnxstudio.data.yolo import read_yolo

        folder = src if src.is_dir() else src.parent
        has_names = any((folder / n).is_file() for n in ("classes.txt", "data.yaml")) or src.suffix.lower() in (".yaml", ".yml")
        names = None if has_names else [c.name for c in store.categories()] or None
        ls = read_yolo(src, root, class_names=names)
    else:
        raise ExchangeError(f"unknown format {fmt!r}")
    import sqlite3

    from rnxstudio.data.store import StoreError

    try:
        return store.import_labelset(ls, match=match)
    except (sqlite3.Error, StoreError) as exc:  # rolled back: the project is unchanged
        raise ExchangeError(f"{src}: the project could not be updated ({exc}); nothing was imported") from exc
