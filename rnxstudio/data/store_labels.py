"""LabelSet out of / into a :class:`~rnxstudio.data.store.ProjectStore` (what export and import use).

Import matches a label file's image names to project images: first by relative path (also after
dropping leading folders the other tool added, e.g. Label Studio's ``images/`` or ``/data/upload/3/``
prefixes), then by unique basename. It never deletes or changes existing boxes; a box equal to one
that was in the project before this import (same category and kind, corners within 1e-6 px) is
counted as a duplicate and skipped, so importing the same file twice adds nothing the second time.

What the file says beyond boxes is stored with them (docs/adr/0009-preserved-label-fields.md):
each box's crowd / difficult flags and ``extra`` fields, each matched image's split and ``extra``
fields, and a COCO file's ``info``, ``licenses`` and unknown top-level keys in the project's meta
("coco.info", "coco.licenses", "coco.extra"; kept from the first file that had them).
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from rnxstudio.core.model import Box, BoxSource, ImageRecord, ImageStatus, InvalidBoxError, LabelSet, clip_box

# The store is passed in (store.py delegates to this module); typed loosely so this module does
# not import store.py back (no import cycle).
ProjectStore = Any

MATCH_MODES = ("relpath-then-basename", "relpath", "basename")
_DUP_TOL = 1e-6
_CLIP_TOL = 1e-6  # px; less than this is float noise, not clipping
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")
META_INFO, META_LICENSES, META_EXTRA = "coco.info", "coco.licenses", "coco.extra"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


@dataclass
class ImportReport:
    """What an import did. ``unmatched_files`` are label-file image names with no project image;
    ``unmatched_boxes`` the boxes they held. ``clipped_far`` lists boxes that overhung their image
    by more than half their width or height."""

    added_boxes: int = 0
    matched_images: int = 0
    unmatched_files: list[str] = field(default_factory=list)
    unmatched_boxes: int = 0
    new_categories: list[str] = field(default_factory=list)
    duplicate_boxes: int = 0
    skipped_boxes: list[str] = field(default_factory=list)
    crowd_regions: int = 0
    difficult_boxes: int = 0
    clipped: int = 0
    clipped_max_px: float = 0.0
    clipped_far: list[str] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{plural(self.added_boxes, 'box', 'boxes')} added on {plural(self.matched_images, 'image')}"
        flags = []
        if self.crowd_regions:
            flags.append(f"{plural(self.crowd_regions, 'crowd region')} (not training targets)")
        if self.difficult_boxes:
            flags.append(f"{self.difficult_boxes} marked difficult (left out of evaluation)")
        if flags:
            text += f" ({', '.join(flags)})"
        text += f"; {plural(len(self.new_categories), 'new category', 'new categories')}"
        if self.new_categories:
            shown = ", ".join(self.new_categories[:5]) + (", ..." if len(self.new_categories) > 5 else "")
            text += f" ({shown})"
        if self.unmatched_files:
            text += (f"; {plural(self.unmatched_boxes, 'box', 'boxes')} skipped on "
                     f"{plural(len(self.unmatched_files), 'file')} not in the project")
        if self.duplicate_boxes:
            text += f"; {plural(self.duplicate_boxes, 'duplicate')} skipped"
        if self.skipped_boxes:
            text += f"; {plural(len(self.skipped_boxes), 'invalid box', 'invalid boxes')} skipped"
        if self.clipped:
            text += (f"; {plural(self.clipped, 'box', 'boxes')} clipped to the image "
                     f"(by up to {self.clipped_max_px:.3g} px")
            if self.clipped_far:
                text += f"; {len(self.clipped_far)} overhung by more than half their size"
            text += ")"
        if self.splits:
            text += "; splits: " + ", ".join(f"{k} {v}" for k, v in sorted(self.splits.items()))
        for w in self.warnings:
            text += f"; {w}"
        return text


def frame_file_name(record: ImageRecord) -> str:
    """The file name a video frame is exported under (and recognised by on import)."""
    stem = PurePosixPath(record.path.replace("\\", "/")).stem
    return f"{stem}_{int(record.frame_index or 0):06d}.png"


def to_labelset(store: ProjectStore, *, verified_only: bool = False, image_ids=None) -> LabelSet:
    """Manual + accepted boxes of the chosen images, with every kept field. Missing files are
    left out."""
    if image_ids is not None:
        records = store.images(list(image_ids))
    elif verified_only:
        records = store.images(store.image_ids(status=ImageStatus.VERIFIED))
    else:
        records = store.images()
    records = [r for r in records if not r.missing]
    found = store.person_boxes({r.id for r in records}) if records else {}
    boxes: dict[int, list[Box]] = {r.id: found.get(r.id, []) for r in records}
    info = store.meta_json(META_INFO)
    if not isinstance(info, dict):
        info = {"description": f"rnxstudio project {store.path.name}", "kind": store.kind}
    licenses = store.meta_json(META_LICENSES, [])
    top = store.meta_json(META_EXTRA, {})
    return LabelSet(categories=store.categories(), images=records, boxes=boxes, root=str(store.root), info=info,
                    licenses=licenses if isinstance(licenses, list) else [],
                    extra={"coco": top} if isinstance(top, dict) and top else {})


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


def _clip(new: Box, width: int, height: int, where: str, report: ImportReport) -> Box:
    """``new`` clipped to its image, the clipping counted in ``report``; InvalidBoxError if too small."""
    if width <= 0 or height <= 0:
        return clip_box(new, 1e12, 1e12)
    clipped = clip_box(new, width, height)
    x1, x2 = sorted((new.x1, new.x2))
    y1, y2 = sorted((new.y1, new.y2))
    if max(-x1, -y1, x2 - width, y2 - height) <= _CLIP_TOL:  # float noise (x + w = 120.00000000000001)
        return replace(new, x1=x1, y1=y1, x2=x2, y2=y2)  # kept as written: exact on export
    over_x = max(0.0, -x1) + max(0.0, x2 - width)
    over_y = max(0.0, -y1) + max(0.0, y2 - height)
    worst = max(-x1, -y1, x2 - width, y2 - height, 0.0)
    if worst > _CLIP_TOL:
        report.clipped += 1
        report.clipped_max_px = max(report.clipped_max_px, worst)
        if over_x > 0.5 * (x2 - x1) or over_y > 0.5 * (y2 - y1):
            report.clipped_far.append(f"{where} overhangs the {width}x{height} image by "
                                      f"{max(over_x, over_y):.3g} px")
        coco = (clipped.extra or {}).get("coco")
        if isinstance(coco, dict) and "bbox" in coco:  # the box as imported is the clipped one
            coco = dict(coco, bbox=[clipped.x1, clipped.y1, clipped.x2 - clipped.x1, clipped.y2 - clipped.y1])
            clipped = replace(clipped, extra=dict(clipped.extra, coco=coco))
    return clipped


def _with_import_geometry(box: Box) -> Box:
    """Record the corners a COCO box was stored with, so an export can tell an edited box (its
    polygon is then stale) from one clipped on import."""
    coco = (box.extra or {}).get("coco")
    if not isinstance(coco, dict):
        return box
    return replace(box, extra=dict(box.extra, coco=dict(coco, _xyxy=[box.x1, box.y1, box.x2, box.y2])))


def _merge_project_fields(store: ProjectStore, ls: LabelSet) -> None:
    if ls.info and store.meta(META_INFO) is None:
        store.set_meta_json(META_INFO, ls.info)
    if ls.licenses:
        have = store.meta_json(META_LICENSES, [])
        have = have if isinstance(have, list) else []
        ids = {lic.get("id") for lic in have if isinstance(lic, dict)}
        added = [lic for lic in ls.licenses if not (isinstance(lic, dict) and lic.get("id") in ids)]
        if added or store.meta(META_LICENSES) is None:
            store.set_meta_json(META_LICENSES, have + added)
    top = (ls.extra or {}).get("coco")
    if isinstance(top, dict) and top:
        have = store.meta_json(META_EXTRA, {})
        have = have if isinstance(have, dict) else {}
        merged = dict(top)
        merged.update(have)  # the first file's values win
        parents = {p.get("name"): p for p in top.get("_placeholder_categories", []) + have.get(
            "_placeholder_categories", []) if isinstance(p, dict)}
        if parents:
            merged["_placeholder_categories"] = list(parents.values())
        if merged != have:
            store.set_meta_json(META_EXTRA, merged)


def _update_image_fields(store: ProjectStore, target: ImageRecord, rec: ImageRecord, report: ImportReport) -> None:
    if rec.split:
        report.splits[rec.split] = report.splits.get(rec.split, 0) + 1
        if target.split != rec.split:
            store.set_image_split(target.id, rec.split)
    if rec.extra:
        merged = dict(target.extra or {})
        merged.update(rec.extra)
        if merged != target.extra:
            store.set_image_extra(target.id, merged)


def import_labelset(store: ProjectStore, ls: LabelSet, *, match: str = "relpath-then-basename") -> ImportReport:
    """Merge ``ls`` into ``store`` in one transaction; any exception leaves the project unchanged.

    Categories are matched by name; a new one keeps its file id when that id is free. Boxes are
    clipped to the image (counted in the report); ones under 1 px (or outside) are skipped and
    listed. Kept fields, crowd / difficult flags and splits are stored (module docstring).
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
                                              supercategory=cat.supercategory, extra=cat.extra)
                report.new_categories.append(existing.name)
            elif cat.extra and not existing.extra:
                store.update_category(replace(existing, extra=cat.extra))
            cat_map[cat.id] = existing.id
        _merge_project_fields(store, ls)
        matched: set[int] = set()
        for rec in ls.images:
            target_id = matcher.find(rec, ls.root)
            if target_id is None:
                report.unmatched_files.append(rec.path if rec.frame_index is None else f"{rec.path}#{rec.frame_index}")
                report.unmatched_boxes += len(ls.boxes_for(rec))
                continue
            matched.add(target_id)
            target = store.image(target_id)
            _update_image_fields(store, target, rec, report)
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
                    new = _clip(new, width, height, where, report)
                except InvalidBoxError as exc:
                    report.skipped_boxes.append(f"{where}: {exc}")
                    continue
                if any(_same(new, b) for b in existing_boxes):
                    report.duplicate_boxes += 1
                    continue
                store._insert_box(_with_import_geometry(new), keep_id=False)  # twins in the file are kept
                added_here += 1
                report.crowd_regions += new.crowd
                report.difficult_boxes += new.difficult
            if added_here:
                store._mark_in_progress(target_id)
                report.added_boxes += added_here
        report.matched_images = len(matched)
        report.skipped_boxes += ls.skipped
        report.warnings += ls.warnings
        for name, n in ls.unplaced.items():
            report.unmatched_files.append(name)
            report.unmatched_boxes += n
    return report


def _same(a: Box, b: Box) -> bool:
    return (a.category_id == b.category_id and a.crowd == b.crowd
            and all(abs(p - q) <= _DUP_TOL for p, q in zip(a.xyxy, b.xyxy)))


def split_counts(records: list[ImageRecord]) -> dict[str, int]:
    return dict(Counter(r.split for r in records if r.split))
