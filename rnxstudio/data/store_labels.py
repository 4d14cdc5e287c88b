"""LabelSet out of / into a :class:`~rnxstudio.data.store.ProjectStore` (what export and import use).

Import matches a label file's image names to project images: first by relative path (also after
dropping leading folders the other tool added, e.g. Label Studio's ``images/`` or ``/data/upload/3/``
prefixes), then by unique basename. It never deletes or changes existing boxes; a box equal to one
that was in the project before this import (same category, corners within 1e-6 px) is counted as
a duplicate and skipped, so importing the same file twice adds nothing the second time.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from rnxstudio.core.model import Box, BoxSource, ImageRecord, ImageStatus, InvalidBoxError, LabelSet, clip_box

# The store is passed in (store.py delegates to this module); typed loosely so this module does
# not import store.py back (no import cycle).
ProjectStore = Any

MATCH_MODES = ("relpath-then-basename", "relpath", "basename")
_DUP_TOL = 1e-6
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")


@dataclass
class ImportReport:
    """What an import did. ``unmatched_files`` are label-file image names with no project image."""

    added_boxes: int = 0
    matched_images: int = 0
    unmatched_files: list[str] = field(default_factory=list)
    new_categories: list[str] = field(default_factory=list)
    duplicate_boxes: int = 0
    skipped_boxes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.added_boxes} boxes added on {self.matched_images} images"
                f"; {len(self.new_categories)} new categories")
        if self.duplicate_boxes:
            text += f"; {self.duplicate_boxes} duplicates skipped"
        if self.skipped_boxes:
            text += f"; {len(self.skipped_boxes)} invalid boxes skipped"
        if self.unmatched_files:
            text += f"; {len(self.unmatched_files)} files not in the project"
        return text


def frame_file_name(record: ImageRecord) -> str:
    """The file name a video frame is exported under (and recognised by on import)."""
    stem = PurePosixPath(record.path.replace("\\", "/")).stem
    return f"{stem}_{int(record.frame_index or 0):06d}.png"


def to_labelset(store: ProjectStore, *, verified_only: bool = False, image_ids=None) -> LabelSet:
    """Manual + accepted boxes of the chosen images. Missing files are left out."""
    if image_ids is not None:
        records = store.images(list(image_ids))
    elif verified_only:
        records = store.images(store.image_ids(status=ImageStatus.VERIFIED))
    else:
        records = store.images()
    records = [r for r in records if not r.missing]
    found = store.person_boxes({r.id for r in records}) if records else {}
    boxes: dict[int, list[Box]] = {r.id: found.get(r.id, []) for r in records}
    info = {"description": f"rnxstudio project {store.path.name}", "kind": store.kind}
    return LabelSet(categories=store.categories(), images=records, boxes=boxes, root=str(store.root), info=info)


def _norm(path: str) -> str:
    p = posixpath.normpath(path.replace("\\", "/"))
    return p.lstrip("/") if p not in (".", "/") else ""


class _Matcher:
    """Finds the project image a label file's image name refers to."""

    def __init__(self, store: ProjectStore, mode: str) -> None:
        if mode not in MATCH_MODES:
            raise ValueError(f"match must be one of {MATCH_MODES}, not {mode!r}")
        self.mode = mode
        self.root = store.root
        self.by_path: dict[str, int] = {}
        self.by_base: dict[str, list[int]] = defaultdict(list)
        self.by_frame: dict[tuple[str, int], int] = {}
        for r in store.images():
            if r.frame_index is None:
                rel = _norm(r.path)
                self.by_path[rel] = r.id
                self.by_base[posixpath.basename(rel)].append(r.id)
            else:
                name = frame_file_name(r)
                self.by_path.setdefault(name, r.id)
                self.by_base[name].append(r.id)
                self.by_frame[(_norm(r.path), r.frame_index)] = r.id

    def find(self, rec: ImageRecord, ls_root: str | None) -> int | None:
        if rec.frame_index is not None:  # a LabelSet that speaks in frames (e.g. our own to_labelset)
            hit = self.by_frame.get((_norm(rec.path), rec.frame_index))
            if hit is not None:
                return hit
        raw = rec.path.replace("\\", "/")
        if self.mode != "basename":
            candidates = []
            if ls_root is not None or PurePosixPath(raw).is_absolute():
                full = Path(ls_root or "/") / raw
                try:
                    candidates.append(_norm(full.resolve().relative_to(self.root.resolve()).as_posix()))
                except (ValueError, OSError):
                    pass
            parts = _norm(raw).split("/")
            candidates += ["/".join(parts[k:]) for k in range(len(parts))]  # drop tool-added prefixes
            for c in candidates:
                if c in self.by_path:
                    return self.by_path[c]
        if self.mode != "relpath":
            base = posixpath.basename(raw)
            for name in (base, *_UPLOAD_PREFIX.findall(base)):  # Label Studio: "<8 hex>-<name>"
                ids = self.by_base.get(name, [])
                if len(ids) == 1:
                    return ids[0]
        return None


def import_labelset(store: ProjectStore, ls: LabelSet, *, match: str = "relpath-then-basename") -> ImportReport:
    """Merge ``ls`` into ``store`` in one transaction; any exception leaves the project unchanged.

    Categories are matched by name; a new one keeps its file id when that id is free. Boxes are
    clipped to the image; ones under 1 px (or outside) are skipped and listed in the report.
    """
    from rnxstudio.data.images import ImageLoadError, read_size

    matcher = _Matcher(store, match)
    report = ImportReport()
    with store.transaction():
        cat_map: dict[int, int] = {}
        for cat in ls.categories:
            existing = store.category_by_name(cat.name.strip())
            if existing is None:
                existing = store.add_category(cat.name, color=cat.color, hotkey=cat.hotkey, id=cat.id,
                                              supercategory=cat.supercategory)
                report.new_categories.append(existing.name)
            cat_map[cat.id] = existing.id
        matched: set[int] = set()
        for rec in ls.images:
            target_id = matcher.find(rec, ls.root)
            if target_id is None:
                report.unmatched_files.append(rec.path if rec.frame_index is None else f"{rec.path}#{rec.frame_index}")
                continue
            matched.add(target_id)
            target = store.image(target_id)
            width, height = target.width, target.height
            if width <= 0 or height <= 0:
                if rec.width > 0 and rec.height > 0:
                    width, height = rec.width, rec.height
                elif target.frame_index is None:
                    try:
                        width, height = read_size(store.absolute_path(target))
                    except (ImageLoadError, OSError):
                        width = height = 0
                if width > 0 and height > 0:
                    store.set_image_size(target_id, width, height)
            existing_boxes = store.boxes(target_id, include_predictions=False)
            added_here = 0
            for box in ls.boxes_for(rec):
                where = f"{rec.path}: box {box.xyxy}"
                if box.category_id not in cat_map:
                    raise ValueError(f"{where} refers to category id {box.category_id}, which the label set does not define")
                new = replace(box, id=0, image_id=target_id, category_id=cat_map[box.category_id],
                              source=BoxSource.ACCEPTED if box.source is BoxSource.ACCEPTED else BoxSource.MANUAL,
                              score=None if box.source is not BoxSource.ACCEPTED else box.score)
                try:
                    new = clip_box(new, width, height) if width > 0 and height > 0 else clip_box(new, 1e12, 1e12)
                except InvalidBoxError as exc:
                    report.skipped_boxes.append(f"{where}: {exc}")
                    continue
                if any(_same(new, b) for b in existing_boxes):
                    report.duplicate_boxes += 1
                    continue
                store._insert_box(new, keep_id=False)  # twins inside the file are kept: they were there
                added_here += 1
            if added_here:
                store._mark_in_progress(target_id)
                report.added_boxes += added_here
        report.matched_images = len(matched)
    return report


def _same(a: Box, b: Box) -> bool:
    return a.category_id == b.category_id and all(abs(p - q) <= _DUP_TOL for p, q in zip(a.xyxy, b.xyxy))
