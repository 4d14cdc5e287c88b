"""How a model's classes meet a project's classes: one pure mapping, remembered per model.

A detector predicts its own classes (the shipped demo model: circle ... ring; a converted COCO
model: the 80 COCO names from its sidecar). A project has its own. A :class:`ClassMapping` says,
for each model class, which project category its boxes get — or that they are ignored. Many
model classes may map to one project class. Pre-label, review (which reads the stored
predictions) and eval all go through it; nothing adds a model's classes to a project unasked.

The mapping is remembered in the project (``class_maps`` table) under the model's class list,
so every model predicting the same classes (a checkpoint, its converted or optimised copies)
reuses it. It stores category *ids*: a renamed class keeps its mapping; a merge points the
mapping at the merged-into class (``ProjectSession.merge_categories``); a deleted class leaves
its model classes unsettled, to be asked again. See docs/adr/0020-predictions-meet-a-persons-labels.md.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rnxstudio.core.model import Category

NEW = "new"  # a choice: a new project class named like the model class
IGNORE = None  # a choice and a target: the model class's boxes are dropped

Choice = int | str | None  # a category id, NEW (or a new class's name), or IGNORE


def mapping_key(model_classes: Sequence[str]) -> str:
    """The key a mapping is remembered under: the model's class list, in its order."""
    return json.dumps([str(n) for n in model_classes], ensure_ascii=False)


@dataclass(frozen=True)
class ClassMapping:
    """``targets[model class]`` is a project category id, or None (ignored)."""

    model_classes: tuple[str, ...]
    targets: Mapping[str, int | None] = field(default_factory=dict)
    model_name: str = ""

    @property
    def key(self) -> str:
        return mapping_key(self.model_classes)

    def category_ids(self) -> list[int | None]:
        """The project category id of each model label (``ids[label - 1]``), None = ignored."""
        return [self.targets.get(n) for n in self.model_classes]

    def unsettled(self, category_ids: Iterable[int]) -> list[str]:
        """Model classes the mapping does not decide (no entry, or a class that is gone)."""
        have = set(category_ids)
        return [n for n in self.model_classes
                if n not in self.targets or (self.targets[n] is not None and self.targets[n] not in have)]

    def ignored(self) -> list[str]:
        return [n for n in self.model_classes if n in self.targets and self.targets[n] is None]

    def by_name(self, categories: Sequence[Category]) -> dict[str, int | None]:
        """``{model class: category name or None}`` (for reports)."""
        names = {c.id: c.name for c in categories}
        return {n: names.get(t) if t is not None else None for n, t in self.targets.items()}


def same_names(model_classes: Sequence[str], categories: Sequence[Category]) -> ClassMapping | None:
    """The mapping by exact name when every model class is already a project class (no step
    needed: the classes do not differ), else None."""
    ids = {c.name: c.id for c in categories}
    if all(n in ids for n in model_classes):
        return ClassMapping(tuple(model_classes), {n: ids[n] for n in model_classes})
    return None


def propose(model_classes: Sequence[str], categories: Sequence[Category],
            remembered: Mapping[str, int | None] | None = None) -> dict[str, Choice]:
    """What the mapping step offers first: a remembered choice that is still valid, else the
    project class of the same name (case- and space-insensitive), else a new class when the
    project has no classes yet, else ignore."""
    ids = {c.id for c in categories}
    by_name = {c.name.strip().lower(): c.id for c in categories}
    out: dict[str, Choice] = {}
    for n in model_classes:
        if remembered is not None and n in remembered and (remembered[n] is None or remembered[n] in ids):
            out[n] = remembered[n]
        elif n.strip().lower() in by_name:
            out[n] = by_name[n.strip().lower()]
        else:
            out[n] = NEW if not categories else IGNORE
    return out


def model_identity(ref: str | os.PathLike | None) -> str | None:
    """A model *version*: a checkpoint file's name plus a digest of its path, size and change
    time (a run that overwrites ``best.safetensors`` makes a new version), else the reference
    itself (a zoo name). The rejection memory is keyed by it."""
    if ref is None or str(ref) == "":
        return None
    p = Path(ref)
    try:
        st = p.stat()
    except OSError:
        return str(ref)
    if not p.is_file():
        return str(ref)
    digest = hashlib.sha1(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return f"{p.name}@{digest}"
