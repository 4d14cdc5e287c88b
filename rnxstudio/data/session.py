"""ProjectSession: the one writer of an open project.

Everything that changes a project goes through here — a person's edits and their undo (one
:class:`~rnxstudio.core.history.UndoHistory`), a model's predictions, verification, class edits,
label import/export, recorded checkpoints and training runs — and every change is announced as
a typed event (:mod:`rnxstudio.data.events`). The GUI relays the events as Qt signals and its
views subscribe; the CLI commands open a session too, so the two cannot drift apart.

Reads go straight to :attr:`ProjectSession.store` (queries only: never call a store method that
writes; ``tests/unit/test_ui_contracts.py`` checks that ``rnxstudio/ui`` does not).
Qt-free and torch-free; like the store, a session is used from the thread that opened it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rnxstudio.core import category_commands as cc
from rnxstudio.core.commands import AcceptAllAbove, Command, SetStatus
from rnxstudio.core.history import EDIT_ERRORS, MERGE_WINDOW_S, HistoryError, Step, UndoHistory
from rnxstudio.core.model import (DUPLICATE_IOU, Box, BoxSource, Category, ImageStatus, default_color, duplicates,
                                  one_per_object)
from rnxstudio.data import classmap as cm
from rnxstudio.data import events as ev
from rnxstudio.data.store import ProjectStore
from rnxstudio.data.store_models import ModelRecord


VERIFY_POLICIES = ("accept", "leave")


class ProjectSession:
    """An open project: its store (for reads), its history and its subscribers."""

    def __init__(self, store: ProjectStore, *, source_path: str | os.PathLike | None = None,
                 history_limit: int = 1000) -> None:
        self._store = store
        self.source_path = str(source_path) if source_path is not None else str(store.path)
        self.history = UndoHistory(store, limit=history_limit, merge_window_s=MERGE_WINDOW_S)
        self.events = ev.EventHub()

    @classmethod
    def open(cls, path: str | os.PathLike, *, sync: bool = True, recursive: bool = True) -> ProjectSession:
        """A session on the project for ``path`` (project file, image folder, video or unzipped
        export; created on first use). Raises :class:`rnxstudio.data.project.ProjectError`."""
        from rnxstudio.data.project import open_project

        return cls(open_project(str(path), sync=sync, recursive=recursive), source_path=path)

    @property
    def store(self) -> ProjectStore:
        """The project store, for reading."""
        return self._store

    def subscribe(self, listener: ev.Listener):
        return self.events.subscribe(listener)

    def close(self) -> None:
        self.history.clear()
        self._store.close()

    def __enter__(self) -> ProjectSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ edits and their undo
    def push(self, command: Command) -> bool:
        """Apply a person's edit and record it; False (and an EditRefused event) when refused."""
        try:
            self.history.push(command)
        except EDIT_ERRORS as exc:
            self.events.emit(ev.EditRefused(f"{command.text}: {exc}"))
            return False
        self._announce([command], "edit")
        return True

    def push_group(self, commands: Sequence[Command], text: str) -> bool:
        """Several commands as ONE undo step, all or nothing."""
        try:
            step = self.history.push_group(commands, text)
        except EDIT_ERRORS as exc:
            self.events.emit(ev.EditRefused(f"{text}: {exc}"))
            return False
        self._announce(step.commands, "edit")
        return True

    def undo(self) -> Step | None:
        """Undo the last step; its images are in the BoxesChanged event (cause "undo")."""
        return self._step("undo")

    def redo(self) -> Step | None:
        return self._step("redo")

    def _step(self, what: str) -> Step | None:
        try:
            step = self.history.undo() if what == "undo" else self.history.redo()
        except HistoryError as exc:
            self.events.emit(ev.EditRefused(str(exc)), self._history_event())
            return None
        if step is not None:
            self._announce(step.commands, what)
        return step

    def _announce(self, commands: Sequence[Command], cause: str) -> None:
        image_ids = tuple(dict.fromkeys(i for c in commands for i in (*c.image_ids, *c.touched_images)))
        box_ids = tuple(dict.fromkeys(i for c in commands for i in c.box_ids))
        out: list[ev.Event] = []
        if any(c.changes_categories for c in commands):
            out.append(ev.CategoriesChanged())
        out += [ev.BoxesChanged(box_ids, image_ids, cause), ev.ImagesChanged(image_ids), self._history_event()]
        self.events.emit(*out)

    def _history_event(self) -> ev.HistoryChanged:
        return ev.HistoryChanged(self.history.undo_text, self.history.redo_text)

    @property
    def can_undo(self) -> bool:
        return self.history.can_undo

    @property
    def can_redo(self) -> bool:
        return self.history.can_redo

    def unreviewed_predictions(self, image_id: int, shown_from: float = 0.0) -> list[Box]:
        """The image's predictions scoring at least ``shown_from`` (what the person sees)."""
        return [b for b in self._store.boxes(image_id) if b.source is BoxSource.PREDICTED
                and (b.score if b.score is not None else 0.0) >= shown_from]

    def verify(self, image_id: int, *, shown_from: float = 0.0, predictions: str = "accept") -> bool:
        """Mark an image verified (one undoable step); True when it is verified afterwards.

        Verifying says "these are the image's objects", so the predictions the person sees
        (scoring at least ``shown_from``: the confidence slider) are not dropped silently:
        ``predictions="accept"`` (the default) accepts them in the same step, as CVAT's "accept
        all" does; ``"leave"`` verifies without them (the GUI asks first) — they stay predictions,
        which are never exported or trained on. Predictions below ``shown_from`` stay as they are.
        """
        if predictions not in VERIFY_POLICIES:
            raise ValueError(f"predictions must be one of {VERIFY_POLICIES}, not {predictions!r}")
        shown = self.unreviewed_predictions(image_id, shown_from) if predictions == "accept" else []
        if self._store.image(image_id).status is ImageStatus.VERIFIED and not shown:
            return True
        if not shown:
            return self.push(SetStatus(image_id, ImageStatus.VERIFIED))
        accept = AcceptAllAbove(image_id, shown_from, dup_iou=self.duplicate_iou)
        return self.push_group([accept, SetStatus(image_id, ImageStatus.VERIFIED)],
                               f"Accept {len(shown)} prediction{'s' if len(shown) != 1 else ''} and verify")

    # ------------------------------------------------------------------ classes (undoable)
    def add_category(self, name: str, color: str | None = None) -> Category | None:
        command = cc.AddCategory(name, color)
        return command.created if self.push(command) else None

    def rename_category(self, category_id: int, name: str) -> bool:
        return self.push(cc.RenameCategory(category_id, name))

    def merge_categories(self, source_id: int, target_id: int) -> bool:
        """Merge one class into another (undoable). Model classes mapped to ``source`` are mapped
        to ``target`` from now on (an undo of the merge leaves them there: still a valid map)."""
        names = {c.id: c.name for c in self._store.categories()}
        text = f"Merge class {names.get(source_id, source_id)!r} into {names.get(target_id, target_id)!r}"
        if not self.push(cc.MergeCategories(source_id, target_id, text)):
            return False
        self._store.retarget_class_maps(source_id, target_id)
        return True

    def delete_category(self, category_id: int) -> bool:
        name = next((c.name for c in self._store.categories() if c.id == category_id), "")
        return self.push(cc.DeleteCategory(category_id, name))

    # ------------------------------------------------------------------ the model's output
    def category_ids_for(self, class_names: Sequence[str]) -> tuple[list[int], list[str]]:
        """Project class id for each name, adding the classes the project lacks (not an undoable
        edit). Returns (ids, names added). Model predictions do not come through here: they go
        through the project's class mapping (:meth:`class_mapping`)."""
        ids, added = [], []
        for name in class_names:
            cat = self._store.category_by_name(name)
            if cat is None:
                cat = self._store.add_category(name, color=default_color(len(self._store.categories())))
                added.append(cat.name)
            ids.append(cat.id)
        if added:
            self.events.emit(ev.CategoriesChanged())
        return ids, added

    def class_mapping(self, model_classes: Sequence[str]) -> cm.ClassMapping | None:
        """How this model's classes become the project's: the remembered mapping when it still
        decides every class, the same-name mapping when every model class is a project class
        already; None when the person must map them first (the class-mapping step)."""
        cats = self._store.categories()
        remembered = self._store.class_map(cm.mapping_key(model_classes))
        if remembered is not None:
            mapping = cm.ClassMapping(tuple(model_classes), remembered[1], remembered[0])
            if not mapping.unsettled(c.id for c in cats):
                return mapping
        return cm.same_names(model_classes, cats)

    def proposed_mapping(self, model_classes: Sequence[str]) -> dict[str, cm.Choice]:
        """What the class-mapping step offers first (classmap.propose)."""
        remembered = self._store.class_map(cm.mapping_key(model_classes))
        return cm.propose(model_classes, self._store.categories(), remembered[1] if remembered else None)

    def set_class_mapping(self, model_classes: Sequence[str], choices: dict[str, cm.Choice], *,
                          model_name: str = "") -> cm.ClassMapping:
        """Remember the person's mapping of a model's classes: per model class a category id,
        ``classmap.NEW`` (a new class named like it) or another new name, or None (ignore).
        New classes are added to the project here (with the mapping, not as an undo step)."""
        targets: dict[str, int | None] = {}
        added = []
        with self._store.transaction():
            for name in model_classes:
                choice = choices.get(name)
                if isinstance(choice, str):
                    new_name = name if choice == cm.NEW else choice
                    cat = self._store.category_by_name(new_name)
                    if cat is None:
                        cat = self._store.add_category(new_name, color=default_color(len(self._store.categories())))
                        added.append(cat.name)
                    targets[name] = cat.id
                else:
                    targets[name] = None if choice is None else int(choice)
            mapping = cm.ClassMapping(tuple(model_classes), targets, model_name)
            self._store.set_class_map(mapping.key, model_name, targets)
        if added:
            self.events.emit(ev.CategoriesChanged())
        return mapping

    @property
    def duplicate_iou(self) -> float:
        """A prediction overlapping a person's box (or a rejected prediction) of the same class
        at least this much is not shown again (project setting, default 0.7)."""
        try:
            return float(self._store.meta("review.duplicate_iou") or DUPLICATE_IOU)
        except ValueError:
            return DUPLICATE_IOU

    def set_duplicate_iou(self, value: float) -> None:
        if not 0.0 < float(value) <= 1.0:
            raise ValueError(f"the duplicate IoU must be in (0, 1], not {value}")
        self._store.set_meta("review.duplicate_iou", str(float(value)))

    @property
    def one_box_per_object(self) -> bool:
        """Whether a model's boxes overlapping at IoU >= :attr:`duplicate_iou` across classes are
        cut to the best-scoring one before they are stored (project setting, default on)."""
        return self._store.meta("review.one_box_per_object") not in ("0", "false")

    def set_one_box_per_object(self, on: bool) -> None:
        """Applies from the next predictions stored; the ones on the images stay as they are."""
        self._store.set_meta("review.one_box_per_object", "1" if on else "0")

    def set_predictions(self, image_id: int, boxes: Iterable[Box], *, model_name: str,
                        model_version: str | None = None) -> list[Box]:
        """Replace ``image_id``'s predictions with a model run's boxes (a person's boxes are never
        touched). With :attr:`one_box_per_object`, boxes of one object in several classes are cut
        to the likeliest. A box that duplicates a person's box of the same class, or one the person
        rejected from this model version (``model_version``, else ``model_name``), is not stored
        (IoU >= :attr:`duplicate_iou`). The history forgets the old predictions of that image:
        undo will not bring them back beside the new ones."""
        thr = self.duplicate_iou
        if self.one_box_per_object:
            boxes = one_per_object(boxes, thr)
        mine = self._store.boxes(image_id, include_predictions=False)
        rejected = self._store.rejections(image_id, model_version or model_name)
        keep = [b for b in boxes if not duplicates(b, mine, thr) and not duplicates(b, rejected, thr)]
        stored = self._store.set_predictions(image_id, keep, model_name=model_name, model_version=model_version)
        self.history.forget_predictions([image_id])
        self.events.emit(ev.PredictionsChanged((image_id,), model_name), ev.ImagesChanged((image_id,)),
                         self._history_event())
        return stored

    # ------------------------------------------------------------------ image facts
    def set_image_size(self, image_id: int, width: int, height: int) -> None:
        self._store.set_image_size(image_id, width, height)
        self.events.emit(ev.ImagesChanged((image_id,)))

    def set_image_error(self, image_id: int, text: str | None) -> None:
        self._store.set_image_error(image_id, text)
        self.events.emit(ev.ImagesChanged((image_id,)))

    def fill_image_sizes(self, image_ids: list[int] | None = None) -> int:
        """Read unknown sizes from file headers (see data.project.fill_image_sizes)."""
        from rnxstudio.data.project import fill_image_sizes

        n = fill_image_sizes(self._store, image_ids)
        self.events.emit(ev.ImagesChanged(tuple(image_ids) if image_ids is not None else None))
        return n

    # ------------------------------------------------------------------ labels in and out
    def import_labels(self, src: str | os.PathLike, fmt: str = "auto", **options: Any):
        """Merge a label file into the project (all or nothing; data.exchange.import_labels, whose
        keyword ``options`` — match, class_names, one_based — pass through).

        An import is not an undoable step; it ends the undo history, whose statuses would no
        longer match the images it changed."""
        from rnxstudio.data.exchange import import_labels

        report = import_labels(self._store, src, fmt, **options)
        self.history.clear()
        out: list[ev.Event] = [ev.CategoriesChanged()] if report.new_categories else []
        out += [ev.BoxesChanged((), None, "import"), ev.ImagesChanged(None), self._history_event()]
        self.events.emit(*out)
        return report

    def export_labels(self, fmt: str, out: str | os.PathLike | None = None, **options: Any):
        """Write the person's labels (data.exchange.export_labels, whose keyword ``options`` pass
        through; it fills in unknown image sizes, hence the event)."""
        from rnxstudio.data.exchange import export_labels

        try:
            return export_labels(self._store, fmt, out, **options)
        finally:
            self.events.emit(ev.ImagesChanged(None))

    def write_snapshot(self, run_dir: str | os.PathLike, *, selection: str = "verified"):
        """The labels a training run learns from, written once (data.snapshot.write_snapshot);
        ``selection``: "verified", "labelled" or "corrected" (images a person corrected)."""
        from rnxstudio.data.snapshot import write_snapshot

        try:
            return write_snapshot(self._store, Path(run_dir), selection=selection)
        finally:
            self.events.emit(ev.ImagesChanged(None))

    # ------------------------------------------------------------------ checkpoints and runs
    def add_model(self, checkpoint: str | os.PathLike, *, name: str, classes: Sequence[str],
                  metrics: dict | None = None, recipe: dict | None = None, parent_id: int | None = None) -> ModelRecord:
        """Record a checkpoint (what ``ml.train_state.store_recorder`` calls)."""
        rec = self._store.add_model(checkpoint, name=name, classes=classes, metrics=metrics, recipe=recipe,
                                    parent_id=parent_id)
        self.events.emit(ev.ModelsChanged(rec.id))
        return rec

    def update_model(self, model_id: int, *, name: str | None = None, metrics: dict | None = None) -> None:
        """A recorded checkpoint's file now holds better weights (a run's ``<name>_best``)."""
        self._store.update_model(model_id, name=name, metrics=metrics)
        self.events.emit(ev.ModelsChanged(model_id))

    def add_training_run(self, *, config: dict, snapshot_path: str | None = None, model_id: int | None = None,
                         status: str = "running") -> int:
        run_id = self._store.add_training_run(config=config, snapshot_path=snapshot_path, model_id=model_id,
                                              status=status)
        self.events.emit(ev.RunsChanged(run_id))
        return run_id

    def update_training_run(self, run_id: int, **changes: Any) -> None:
        self._store.update_training_run(run_id, **changes)
        self.events.emit(ev.RunsChanged(run_id))
