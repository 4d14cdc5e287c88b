"""Export a project's labels to COCO / VOC / YOLO and import label files into it.

The CLI (`rnxstudio export` / `rnxstudio import`) and the GUI's File menu both call these
functions, so both behave the same: only a person's boxes (manual + accepted) are exported;
unreadable images (an ``error`` recorded, no size, or pixel data that does not decode — checked
at export, :func:`check_readable`) are left out and counted; video frames are
written as PNG files that the label files reference; an import is all or nothing. An import
accepts an unzipped export as it is (``data.layouts``): its folder, or any file in it.

Export folders: :func:`default_export_dir` proposes a new folder next to the images (never the
image folder itself) and :func:`export_conflicts` lists label files an export would replace, so
a caller can ask before overwriting (the CLI refuses without ``--force``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rnxstudio.core.model import ImageStatus
from rnxstudio.data.project import fill_image_sizes, write_frames
from rnxstudio.data.store_labels import plural, split_counts

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
    notes: list[str] = field(default_factory=list)  # what a user should know about the files written
    files: list[Path] = field(default_factory=list)  # the label files written

    def summary(self) -> str:
        text = (f"exported {plural(self.images, 'image')}, {plural(self.boxes, 'box', 'boxes')}, "
                f"{plural(self.categories, 'category', 'categories')} as {self.fmt} to {self.target}")
        if self.skipped:
            text += f"; {plural(len(self.skipped), 'unreadable image')} left out"
        if self.notes:
            text += "; " + "; ".join(self.notes)
        return text


_NOTE_WORDS = {  # note -> (thing, things, what happened)
    "crowd": ("crowd region", "crowd regions", "written with iscrowd 1"),
    "crowd_skipped": ("crowd region", "crowd regions", "not written (the format has no crowd regions)"),
    "difficult_written": ("difficult box", "difficult boxes",
                          "written as ordinary boxes (the format has no difficult flag)"),
    "difficult_key": ("difficult box", "difficult boxes",
                      'marked "difficult": 1 (not a COCO field: other tools see ordinary boxes)'),
    "stale_segmentations": ("segmentation polygon", "segmentation polygons",
                            "stale: the box was edited after import and the polygon written unchanged"),
    "image_ids_renumbered": ("image id", "image ids", "renumbered (another image already had the id)"),
    "annotation_ids_renumbered": ("annotation id", "annotation ids", "renumbered (another box already had the id)"),
    "links_copied": ("image", "images", "copied because symbolic links are not possible here"),
    "split_to_train": ("image", "images", "without a train/val/test split written to train"),
}


def _notes_in_words(notes: dict[str, int]) -> list[str]:
    return [f"{plural(n, *_NOTE_WORDS[k][:2])} {_NOTE_WORDS[k][2]}" for k, n in notes.items() if n and k in _NOTE_WORDS]


def default_export_dir(store, fmt: str) -> Path:
    """A new folder for an export: beside the project's images, never inside them
    (``<images folder>-<fmt>``, numbered when it exists)."""
    source = Path(store.source)
    base = source.parent / (f"{source.stem if store.kind == 'video' else source.name}-{fmt}")
    candidate, n = base, 2
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{n}")
        n += 1
    return candidate


def export_conflicts(fmt: str, out: str | os.PathLike, *, limit: int = 20) -> list[Path]:
    """Label files an export to ``out`` would replace (empty when ``out`` is new or holds none)."""
    out = Path(out)
    if fmt == "coco" and out.suffix.lower() == ".json":
        return [out] if out.exists() else []
    if not out.is_dir():
        return []
    found: list[Path] = []
    names = {"coco": ("annotations.json",), "voc": ("classes.txt",), "yolo": ("data.yaml", "classes.txt")}[fmt]
    found += [out / n for n in names if (out / n).is_file()]
    patterns = {"coco": ("annotations/instances_*.json",), "voc": ("**/*.xml",), "yolo": ("labels/**/*.txt",)}[fmt]
    for pattern in patterns:
        for p in out.glob(pattern):
            found.append(p)
            if len(found) >= limit:
                return found
    return found


def check_readable(store, records) -> int:
    """Decode-check the still images among ``records`` that have no error yet
    (images.check_complete); an unreadable one gets its error recorded, so every export and
    training snapshot leaves it out. Returns how many were found unreadable."""
    from rnxstudio.data.images import ImageLoadError, check_complete

    found = 0
    with store.transaction():
        for r in records:
            if r.error or r.missing or r.frame_index is not None:
                continue
            try:
                check_complete(store.absolute_path(r))
            except (ImageLoadError, OSError) as exc:
                store.set_image_error(r.id, str(exc))
                found += 1
    return found


def _exportable(store, verified_only: bool, image_ids=None):
    fill_image_sizes(store, None if image_ids is None else list(image_ids))
    ls = store.to_labelset(verified_only=verified_only, image_ids=image_ids)
    if check_readable(store, ls.images):  # a header can be fine over broken pixel data
        ls = store.to_labelset(verified_only=verified_only, image_ids=image_ids)
    bad = [r for r in ls.images if r.error or r.width <= 0 or r.height <= 0]
    skipped = [f"{r.path}: {r.error or 'size unknown'}" for r in bad]
    if bad:
        gone = {r.id for r in bad}
        ls.images = [r for r in ls.images if r.id not in gone]
        ls.boxes = {r.id: ls.boxes.get(r.id, []) for r in ls.images}
    return ls, skipped


def export_labels(store, fmt: str, out: str | os.PathLike | None = None, *, verified_only: bool = False,
                  image_ids=None, keep_ids: bool = True, voc_coords: str = "int", one_based: bool = False,
                  yolo_images: str = "copy", splits: bool | None = None, provenance: bool = False,
                  corrected_only: bool = False) -> ExportResult:
    """Write the project's labels; files are written atomically, existing ones replaced (ask
    first with :func:`export_conflicts`). ``out`` None means :func:`default_export_dir`;
    ``image_ids`` limits the export to those images.

    COCO: ``out`` is a folder (``annotations.json``, or ``annotations/instances_<split>.json``
    per split) or a ``.json`` path (one file); ``keep_ids`` keeps the ids the labels were
    imported with. VOC: one XML per image under ``out``, ``voc_coords`` "int" (default) or
    "float", ``one_based`` for PASCAL's 1-based pixel indices; splits as ImageSets/Main lists.
    YOLO: ``yolo_images`` "copy" (default) or "link" puts the images beside the labels so the
    data.yaml is valid as written, split folders ``images/<split>``. ``splits`` None: by split
    when any exported image has one. ``provenance`` (COCO only) writes how each box came to be
    as an ``attributes`` entry (drawn / accepted / edited, model and score). ``corrected_only``
    limits the export to images a person corrected (``ProjectStore.corrected_image_ids``).
    """
    if fmt not in FORMATS:
        raise ExchangeError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if provenance and fmt != "coco":
        raise ExchangeError(f"box provenance is written only to COCO (its annotation attributes), not {fmt}")
    out = Path(out) if out is not None else default_export_dir(store, fmt)
    if corrected_only:
        corrected = store.corrected_image_ids()
        image_ids = corrected if image_ids is None else [i for i in image_ids if i in set(corrected)]
        if verified_only:
            image_ids = [i for i in image_ids if i in set(store.image_ids(status=ImageStatus.VERIFIED))]
            verified_only = False
        if not image_ids:
            raise ExchangeError(f"{store.path}: nothing to export (no image was corrected by a person)")
    ls, skipped = _exportable(store, verified_only, image_ids)
    if not ls.images:
        raise ExchangeError(f"{store.path}: nothing to export"
                            + (" (no image is marked verified)" if verified_only else ""))
    one_file = fmt == "coco" and out.suffix.lower() == ".json"
    by_split = bool(split_counts(ls.images)) if splits is None else splits
    by_split = by_split and not one_file
    coco_file = out if one_file else out / "annotations.json"
    frames_dir = coco_file.parent if fmt == "coco" else (out / "images" if fmt == "yolo" else out)
    if any(r.frame_index is not None for r in ls.images):
        ls = write_frames(store, ls, frames_dir)
    notes: dict[str, int] = {}
    try:
        if fmt == "coco":
            files = _write_coco(ls, out, coco_file, by_split, keep_ids, notes, provenance)
            target = coco_file if one_file or not by_split else out
        elif fmt == "voc":
            from rnxstudio.data.voc import write_voc

            files = write_voc(ls, out, coords=voc_coords, one_based=one_based, notes=notes)
            target = out
        else:
            from rnxstudio.data.yolo import write_yolo

            files = write_yolo(ls, out, copy_images=yolo_images, splits=by_split, notes=notes)
            target = out
    except ValueError as exc:  # the labels cannot be expressed in this format (e.g. a.jpg + a.png in VOC)
        raise ExchangeError(f"cannot export {store.path.name} as {fmt}: {exc}") from exc
    if fmt == "yolo" and by_split:
        notes["split_to_train"] = sum(1 for r in ls.images if r.split not in ("train", "val", "test"))
    return ExportResult(target, fmt, len(ls.images), ls.num_boxes, len(ls.categories), ls.root, skipped,
                        _notes_in_words(notes), list(files))


def _write_coco(ls, out: Path, coco_file: Path, by_split: bool, keep_ids: bool, notes: dict,
                provenance: bool = False) -> list[Path]:
    from dataclasses import replace

    from rnxstudio.data.coco import write_coco

    if not by_split:
        write_coco(ls, coco_file, keep_ids=keep_ids, notes=notes, provenance=provenance)
        return [coco_file]
    files = []
    for split in sorted({r.split or "default" for r in ls.images}):
        images = [r for r in ls.images if (r.split or "default") == split]
        part = replace(ls, images=images, boxes={r.id: ls.boxes.get(r.id, []) for r in images})
        target = out / "annotations" / f"instances_{split}.json"
        write_coco(part, target, keep_ids=keep_ids, notes=notes, provenance=provenance)
        files.append(target)
    return files


def detect_format(path: str | os.PathLike) -> str | None:
    """Guess the label format of a file or folder (an unzipped export's layout first, then names
    only); None when unsure."""
    from rnxstudio.data.layouts import detect_layout
    from rnxstudio.data.yolo import is_label_txt

    p = Path(path)
    try:
        layout = detect_layout(p)
    except Exception:  # noqa: BLE001 - guessing must not fail; reading will say what is wrong
        layout = None
    if layout is not None and layout.sources:
        return layout.fmt
    if p.is_file():
        if p.suffix.lower() == ".txt" and not is_label_txt(p.name):
            return None
        return {".json": "coco", ".xml": "voc", ".txt": "yolo", ".yaml": "yolo", ".yml": "yolo"}.get(p.suffix.lower())
    if p.is_dir():
        names = {c.name.lower() for c in p.iterdir()}
        # XML first: a VOC export also carries a classes.txt (and its XMLs may sit in sub-folders)
        if any(n.endswith(".xml") for n in names) or next(p.rglob("*.xml"), None) is not None:
            return "voc"
        if {"classes.txt", "data.yaml", "labels"} & names:
            return "yolo"
        if any(is_label_txt(n) for n in names):
            return "yolo"
        jsons = [n for n in names if n.endswith(".json")]
        if len(jsons) == 1:
            return "coco"
    return None


def _generic_layout(src: Path, fmt: str):
    """A label file or folder of no known layout: its images are the project's."""
    from rnxstudio.data.layouts import Layout, LabelSource

    if fmt == "coco" and src.is_dir():
        jsons = sorted(src.glob("*.json"))
        if len(jsons) != 1:
            raise ExchangeError(f"{src}: expected one COCO .json file in the folder, found {len(jsons)}")
        src = jsons[0]
    if fmt == "yolo" and src.is_file():
        src = src.parent
    return Layout(f"{fmt} labels", src if src.is_dir() else src.parent, [LabelSource(fmt, src, None)])


def resolve_layout(src: str | os.PathLike, fmt: str = "auto"):
    """The Layout an import of ``src`` reads: a recognised export layout, else ``src`` alone."""
    from rnxstudio.data.layouts import detect_layout

    src = Path(src)
    if not src.exists():
        raise ExchangeError(f"{src}: no such file or folder")
    layout = detect_layout(src)
    if layout is not None and layout.sources and (fmt == "auto" or layout.fmt == fmt):
        return layout
    fmt = detect_format(src) if fmt == "auto" else fmt
    if fmt is None:
        raise ExchangeError(f"{src}: cannot tell the label format; choose COCO, VOC or YOLO explicitly")
    if fmt not in FORMATS:
        raise ExchangeError(f"unknown format {fmt!r}")
    return _generic_layout(src, fmt)


def import_labels(store, src: str | os.PathLike, fmt: str = "auto", *, match: str = "relpath-then-basename",
                  class_names: list[str] | None = None, one_based: bool = False):
    """Read ``src`` (a label file, a folder, or an unzipped export) and merge it into the project
    (all or nothing); returns the ImportReport. ``class_names`` fixes YOLO / VOC class order
    (YOLO files carry indices only); ``one_based`` reads PASCAL's 1-based VOC coordinates."""
    from rnxstudio.data.layouts import read_layout

    layout = resolve_layout(src, fmt)
    if class_names is None and layout.fmt == "yolo" and not layout.class_names:
        from rnxstudio.data.yolo import read_class_names

        folder = layout.sources[0].path
        folder = folder if folder.is_dir() else folder.parent
        if read_class_names(folder) is None:  # no names beside the labels: the project's classes
            class_names = [c.name for c in store.categories()] or None
    ls = read_layout(layout, image_root=store.root, class_names=class_names, one_based=one_based)
    import sqlite3

    from rnxstudio.data.store import StoreError

    try:
        return store.import_labelset(ls, match=match)
    except (sqlite3.Error, StoreError) as exc:  # rolled back: the project is unchanged
        raise ExchangeError(f"{src}: the project could not be updated ({exc}); nothing was imported") from exc
