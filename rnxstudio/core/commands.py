"""Undoable annotation edits, written against a small store protocol.

Every edit a person makes is one :class:`Command`: ``apply(store)`` performs it and
``revert(store)`` undoes it exactly — the same box ids come back, the same coordinates, the same
image status. A command captures what it needs on its first ``apply`` and re-uses the ids and
versions it made then on later applies (redo), so apply → revert → apply leaves the store as the
first apply did.

Predictions are the model's, not the person's: a new pre-label run replaces every prediction of
an image (``ProjectStore.set_predictions``). The history is then told so
(:meth:`Command.forget_predictions`); each command drops the predictions of those images it
would otherwise bring back, and keeps only the person's part of the edit. Undo never resurrects
an old model's box beside the new model's (docs/adr/0014-model-runs-are-not-undo-steps.md).

The store is anything that satisfies :class:`BoxStore` (``rnxstudio.data.store.ProjectStore``
does; core cannot import data). The history is :class:`rnxstudio.core.history.UndoHistory`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import replace
from typing import ContextManager, Protocol, runtime_checkable

from rnxstudio.core.model import (
    DUPLICATE_IOU,
    Box,
    BoxSource,
    ImageRecord,
    ImageStatus,
    InvalidBoxError,
    clip_box,
    duplicates,
)


@runtime_checkable
class BoxStore(Protocol):
    """What commands need from a store. All methods write through immediately."""

    def image(self, image_id: int) -> ImageRecord: ...

    def boxes(self, image_id: int, *, include_predictions: bool = True) -> list[Box]: ...

    def get_box(self, box_id: int) -> Box: ...

    def add_box(self, box: Box, keep_id: bool = False) -> Box: ...

    def update_box(self, box: Box) -> Box: ...

    def delete_box(self, box_id: int) -> Box: ...

    def set_status(self, image_id: int, status: ImageStatus) -> None: ...

    def transaction(self) -> ContextManager[None]: ...

    def remember_rejections(self, boxes: Iterable[Box]) -> None: ...

    def forget_rejections(self, box_ids: Sequence[int]) -> None: ...


def clip_to_image(box: Box, image: ImageRecord) -> Box:
    """Clip ``box`` to ``image``; refuse it when the image size is unknown or the box is < 1 px."""
    if image.width <= 0 or image.height <= 0:
        raise InvalidBoxError(
            f"size of image {image.display_name!r} is not known yet; load the image before editing boxes"
        )
    return clip_box(box, image.width, image.height)


def replaced_prediction(box: Box | None, image_ids: set[int]) -> bool:
    """Whether ``box`` is a prediction on one of ``image_ids`` (replaced by a newer model run)."""
    return box is not None and box.source is BoxSource.PREDICTED and box.image_id in image_ids


class Command:
    """Base class: subclasses implement ``_touched_images``, ``_do`` and ``_undo``; image statuses
    are captured and restored here."""

    text: str = "edit"
    changes_categories = False  # True for the class commands (rnxstudio.core.category_commands)

    def __init__(self) -> None:
        self._statuses: dict[int, ImageStatus] | None = None

    def _touched_images(self, store: BoxStore) -> Iterable[int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _do(self, store: BoxStore) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _undo(self, store: BoxStore) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _forget(self, image_ids: set[int]) -> None:
        """Drop the predictions on ``image_ids`` this command holds (default: it holds none)."""

    def apply(self, store: BoxStore) -> None:
        """Perform the edit (first time or redo) in one store transaction."""
        with store.transaction():
            self._statuses = {i: store.image(i).status for i in self._touched_images(store)}
            self._do(store)

    def revert(self, store: BoxStore) -> None:
        """Undo the edit exactly, including each touched image's status."""
        if self._statuses is None:
            raise RuntimeError(f"cannot revert {type(self).__name__}: it was never applied")
        with store.transaction():
            self._undo(store)
            for image_id, status in self._statuses.items():
                if store.image(image_id).status != status:
                    store.set_status(image_id, status)

    def forget_predictions(self, image_ids: Iterable[int]) -> None:
        """The predictions of ``image_ids`` were replaced by a new model run: from now on revert
        and redo leave those images' predictions alone. An image that was unlabeled before this
        command is restored as predicted (what the new run made of it)."""
        ids = set(image_ids)
        for i in ids & set(self._statuses or ()):
            if self._statuses[i] is ImageStatus.UNLABELED:
                self._statuses[i] = ImageStatus.PREDICTED
        self._forget(ids)

    @property
    def touched_images(self) -> list[int]:
        """Ids of the images whose status this command may change (known after the first apply)."""
        return list(self._statuses or ())

    @property
    def image_ids(self) -> list[int]:
        """Ids of the images whose boxes this command changed: what a view reloads."""
        return self.touched_images

    @property
    def box_ids(self) -> list[int]:
        """Ids of the boxes this command creates, changes or removes (after the first apply)."""
        return []

    @property
    def is_empty(self) -> bool:
        """True when forgetting predictions left nothing for this command to do."""
        return False

    def merge_key(self) -> Hashable | None:
        """Commands with equal, non-None keys pushed in quick succession are one undo step."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.text!r}>"


def _readd(store: BoxStore, box: Box) -> Box:
    return store.add_box(box, keep_id=True)


class AddBox(Command):
    """Draw a new box (clipped to the image). ``created`` is the stored box after apply."""

    def __init__(self, box: Box, text: str = "Add box") -> None:
        super().__init__()
        self.box = box
        self.text = text
        self.created: Box | None = None
        self._gone = False

    def _touched_images(self, store: BoxStore) -> Iterable[int]:
        return (self.box.image_id,)

    def _do(self, store: BoxStore) -> None:
        if self._gone:
            return
        if self.created is None:
            clipped = clip_to_image(replace(self.box, id=0), store.image(self.box.image_id))
            self.created = store.add_box(clipped)
        else:
            self.created = _readd(store, self.created)

    def _undo(self, store: BoxStore) -> None:
        assert self.created is not None
        if not self._gone:
            store.delete_box(self.created.id)

    def _forget(self, image_ids: set[int]) -> None:
        self._gone = self._gone or replaced_prediction(self.created, image_ids)

    @property
    def box_ids(self) -> list[int]:
        return [] if self.created is None or self._gone else [self.created.id]

    @property
    def is_empty(self) -> bool:
        return self._gone


class DeleteBoxes(Command):
    """Delete boxes (any source); undo brings them back with their ids. Deleting a prediction
    rejects it: the store remembers it for that model version (undo forgets it again)."""

    def __init__(self, box_ids: Sequence[int], text: str | None = None) -> None:
        super().__init__()
        self._ids = list(dict.fromkeys(box_ids))
        self.text = text or (f"Delete {len(self._ids)} boxes" if len(self._ids) != 1 else "Delete box")
        self._deleted: list[Box] = []

    def _touched_images(self, store: BoxStore) -> Iterable[int]:
        if self._deleted:
            return dict.fromkeys(b.image_id for b in self._deleted)
        return dict.fromkeys(store.get_box(i).image_id for i in self._ids)

    def _do(self, store: BoxStore) -> None:
        self._deleted = [store.delete_box(i) for i in self._ids]
        store.remember_rejections(b for b in self._deleted if b.source is BoxSource.PREDICTED)

    def _undo(self, store: BoxStore) -> None:
        rejected = [b.id for b in self._deleted if b.source is BoxSource.PREDICTED]
        if rejected:
            store.forget_rejections(rejected)
        for box in self._deleted:
            _readd(store, box)

    def _forget(self, image_ids: set[int]) -> None:
        gone = {b.id for b in self._deleted if replaced_prediction(b, image_ids)}
        self._deleted = [b for b in self._deleted if b.id not in gone]
        self._ids = [i for i in self._ids if i not in gone]

    @property
    def box_ids(self) -> list[int]:
        return list(self._ids)

    @property
    def is_empty(self) -> bool:
        return not self._ids


class _UpdateBoxes(Command):
    """Shared machinery: replace boxes in place. Keeps (old, new) per box from the first apply;
    an old version that was a since-replaced prediction becomes None (revert then removes the
    box, redo puts the new version back under its id)."""

    def __init__(self, box_ids: Sequence[int]) -> None:
        super().__init__()
        self._ids = list(dict.fromkeys(box_ids))
        self._pairs: list[tuple[Box | None, Box]] = []

    def _touched_images(self, store: BoxStore) -> Iterable[int]:
        if self._pairs:
            return dict.fromkeys(new.image_id for _old, new in self._pairs)
        return dict.fromkeys(store.get_box(i).image_id for i in self._ids)

    def _new_version(self, store: BoxStore, old: Box) -> Box:  # pragma: no cover - abstract
        raise NotImplementedError

    def _do(self, store: BoxStore) -> None:
        if not self._pairs:
            old = [store.get_box(i) for i in self._ids]
            self._pairs = [(o, self._new_version(store, o)) for o in old]  # validate all before writing
        for old, new in self._pairs:
            if old is None:
                _readd(store, new)
            else:
                store.update_box(new)

    def _undo(self, store: BoxStore) -> None:
        for old, new in self._pairs:
            if old is None:
                store.delete_box(new.id)
            else:
                store.update_box(old)

    def _forget(self, image_ids: set[int]) -> None:
        self._pairs = [(None if replaced_prediction(old, image_ids) else old, new) for old, new in self._pairs]

    @property
    def box_ids(self) -> list[int]:
        return list(self._ids)


def _touched_source(box: Box) -> BoxSource:
    """A prediction a person edits becomes their work (accepted), so re-prediction keeps it."""
    return BoxSource.ACCEPTED if box.source is BoxSource.PREDICTED else box.source


def _touched(box: Box, **changes) -> Box:
    """``box`` changed by a person: a model's box (a prediction, or one accepted) becomes an
    edited prediction (provenance "edited"); a drawn box stays drawn."""
    edited = box.edited or box.source is not BoxSource.MANUAL
    return replace(box, source=_touched_source(box), edited=edited, **changes)


class MoveResizeBox(_UpdateBoxes):
    """Set a box's corners (clipped to its image). Quick moves of one box merge into one step."""

    def __init__(self, box_id: int, x1: float, y1: float, x2: float, y2: float, text: str = "Move box") -> None:
        super().__init__([box_id])
        self.coords = (float(x1), float(y1), float(x2), float(y2))
        self.text = text

    def _new_version(self, store: BoxStore, old: Box) -> Box:
        moved = _touched(old.with_coords(*self.coords))
        return clip_to_image(moved, store.image(old.image_id))

    def merge_key(self) -> Hashable | None:
        return ("move", self._ids[0])


class Relabel(_UpdateBoxes):
    """Give boxes another category."""

    def __init__(self, box_ids: Sequence[int], category_id: int, text: str | None = None) -> None:
        super().__init__(box_ids)
        self.category_id = int(category_id)
        self.text = text or ("Relabel box" if len(self._ids) == 1 else f"Relabel {len(self._ids)} boxes")

    def _new_version(self, store: BoxStore, old: Box) -> Box:
        if old.category_id == self.category_id:  # the same class again: accepted, not edited
            return replace(old, source=_touched_source(old))
        return _touched(old, category_id=self.category_id)


class AcceptPredictions(Command):
    """Turn predictions into accepted boxes: each prediction is replaced by a new accepted box
    (which keeps the model's name, version and score). A prediction that duplicates a person's
    box of the same class (IoU >= ``dup_iou``, also one accepted earlier in this step) is removed
    instead of accepted twice; undo brings it back."""

    def __init__(self, box_ids: Sequence[int], text: str | None = None, *, dup_iou: float = DUPLICATE_IOU) -> None:
        super().__init__()
        self.dup_iou = float(dup_iou)
        self._dropped: list[Box] = []
        self._ids = list(dict.fromkeys(box_ids))
        self.text = text or ("Accept prediction" if len(self._ids) == 1 else f"Accept {len(self._ids)} predictions")
        self._pairs: list[tuple[Box | None, Box]] = []  # (prediction or None once forgotten, accepted)

    def _chosen_ids(self, store: BoxStore) -> list[int]:
        return self._ids

    def _touched_images(self, store: BoxStore) -> Iterable[int]:
        if self._pairs:
            return dict.fromkeys(a.image_id for _p, a in self._pairs)
        return dict.fromkeys(store.get_box(i).image_id for i in self._chosen_ids(store))

    def _do(self, store: BoxStore) -> None:
        if self._pairs or self._dropped:
            for pred, acc in self._pairs:
                if pred is not None:
                    store.delete_box(pred.id)
                _readd(store, acc)
            for p in self._dropped:
                store.delete_box(p.id)
            return
        preds = [store.get_box(i) for i in self._chosen_ids(store)]
        for p in preds:
            if p.source is not BoxSource.PREDICTED:
                raise ValueError(f"box {p.id} is {p.source.value}, not a prediction")
        mine: dict[int, list[Box]] = {}
        for p in preds:
            if p.image_id not in mine:
                mine[p.image_id] = store.boxes(p.image_id, include_predictions=False)
            store.delete_box(p.id)
            if duplicates(p, mine[p.image_id], self.dup_iou):
                self._dropped.append(p)
                continue
            acc = store.add_box(replace(p, id=0, source=BoxSource.ACCEPTED, edited=False))
            mine[p.image_id].append(acc)
            self._pairs.append((p, acc))

    def _undo(self, store: BoxStore) -> None:
        for pred, acc in self._pairs:
            store.delete_box(acc.id)
            if pred is not None:
                _readd(store, pred)
        for p in self._dropped:
            _readd(store, p)

    def _forget(self, image_ids: set[int]) -> None:
        self._pairs = [(None if replaced_prediction(p, image_ids) else p, a) for p, a in self._pairs]
        self._dropped = [p for p in self._dropped if not replaced_prediction(p, image_ids)]

    @property
    def dropped(self) -> list[Box]:
        """Predictions removed as duplicates of a person's boxes instead of accepted."""
        return list(self._dropped)

    @property
    def accepted(self) -> list[Box]:
        return [a for _p, a in self._pairs]

    @property
    def box_ids(self) -> list[int]:
        return ([p.id for p, _a in self._pairs if p is not None] + [a.id for _p, a in self._pairs]
                + [p.id for p in self._dropped])


class AcceptAllAbove(AcceptPredictions):
    """Accept every prediction on one image whose score is at least ``threshold``."""

    def __init__(self, image_id: int, threshold: float, *, dup_iou: float = DUPLICATE_IOU) -> None:
        super().__init__([], text=f"Accept predictions ≥ {threshold:.2f}", dup_iou=dup_iou)
        self.image_id = image_id
        self.threshold = float(threshold)

    def _chosen_ids(self, store: BoxStore) -> list[int]:
        return [b.id for b in store.boxes(self.image_id)
                if b.source is BoxSource.PREDICTED and (b.score if b.score is not None else 0.0) >= self.threshold]

    def _touched_images(self, store: BoxStore) -> Iterable[int]:
        return (self.image_id,)


class RejectPredictions(DeleteBoxes):
    """Drop predictions (only predictions: a person's boxes are refused here)."""

    def __init__(self, box_ids: Sequence[int]) -> None:
        super().__init__(box_ids, text="Reject prediction" if len(box_ids) == 1 else f"Reject {len(box_ids)} predictions")

    def _do(self, store: BoxStore) -> None:
        for i in self._ids:
            b = store.get_box(i)
            if b.source is not BoxSource.PREDICTED:
                raise ValueError(f"box {i} is {b.source.value}, not a prediction")
        super()._do(store)


class PasteBoxes(Command):
    """Copy the person's boxes (manual + accepted) of image ``src`` onto image ``dst``.

    Touches only ``dst``. Pasted boxes are manual, keep category and track id, and are clipped to
    ``dst``; boxes that fall (almost) entirely outside ``dst`` are skipped. ``box_ids`` limits the
    copy to some of ``src``'s boxes.
    """

    def __init__(self, src_image_id: int, dst_image_id: int, box_ids: Sequence[int] | None = None) -> None:
        super().__init__()
        self.src = src_image_id
        self.dst = dst_image_id
        self.only = None if box_ids is None else set(box_ids)
        self.created: list[Box] = []
        self._planned: list[Box] | None = None
        self.text = "Paste boxes"

    def _touched_images(self, store: BoxStore) -> Iterable[int]:
        return (self.dst,)

    def _do(self, store: BoxStore) -> None:
        if self._planned is None:
            dst = store.image(self.dst)
            planned = []
            for b in store.boxes(self.src, include_predictions=False):
                if self.only is not None and b.id not in self.only:
                    continue
                copy = replace(b, id=0, image_id=self.dst, source=BoxSource.MANUAL, score=None, verified=False,
                               model_name=None, model_version=None, edited=False)
                try:
                    planned.append(clip_to_image(copy, dst))
                except InvalidBoxError:
                    if dst.width <= 0 or dst.height <= 0:
                        raise
            self._planned = planned
            self.created = [store.add_box(b) for b in planned]
        else:
            self.created = [_readd(store, b) for b in self.created]

    def _undo(self, store: BoxStore) -> None:
        for b in self.created:
            store.delete_box(b.id)

    @property
    def box_ids(self) -> list[int]:
        return [b.id for b in self.created]


class SetStatus(Command):
    """Set an image's status (e.g. mark verified)."""

    def __init__(self, image_id: int, status: ImageStatus) -> None:
        super().__init__()
        self.image_id = image_id
        self.status = ImageStatus(status)
        self.text = f"Mark {self.status.value.replace('_', ' ')}"

    def _touched_images(self, store: BoxStore) -> Iterable[int]:
        return (self.image_id,)

    def _do(self, store: BoxStore) -> None:
        store.set_status(self.image_id, self.status)

    def _undo(self, store: BoxStore) -> None:
        pass  # the base class restores the previous status
