"""Undoable annotation edits, written against a small store protocol.

Every edit a person makes is one :class:`Command`: ``apply(store)`` performs it and
``revert(store)`` undoes it exactly — the same box ids come back, the same coordinates, the same
image status. A command captures what it needs on its first ``apply`` and re-uses the ids it
created then on later applies (redo), so apply → revert → apply leaves the store as the first
apply did.

The store is anything that satisfies :class:`BoxStore` (``rnxstudio.data.store.ProjectStore``
does; core cannot import data). The GUI wraps these same objects in ``QUndoCommand``; the CLI
and tests use :class:`UndoHistory`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import ContextManager, Protocol, runtime_checkable

from rnxstudio.core.model import Box, BoxSource, ImageRecord, ImageStatus, InvalidBoxError, clip_box


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


def clip_to_image(box: Box, image: ImageRecord) -> Box:
    """Clip ``box`` to ``image``; refuse it when the image size is unknown or the box is < 1 px."""
    if image.width <= 0 or image.height <= 0:
        raise InvalidBoxError(
            f"size of image {image.display_name!r} is not known yet; load the image before editing boxes"
        )
    return clip_box(box, image.width, image.height)


class Command:
    """Base class: subclasses implement ``_do`` and ``_undo``; statuses are restored here."""

    text: str = "edit"

    def __init__(self) -> None:
        self._statuses: dict[int, ImageStatus] | None = None

    def _touched_images(self, store: BoxStore) -> Iterable[int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _do(self, store: BoxStore) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _undo(self, store: BoxStore) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, store: BoxStore) -> None:
        """Perform the edit (first time or redo) in one store transaction."""
        with _transaction(store):
            self._statuses = {i: store.image(i).status for i in self._touched_images(store)}
            self._do(store)

    def revert(self, store: BoxStore) -> None:
        """Undo the edit exactly, including each touched image's status."""
        if self._statuses is None:
            raise RuntimeError(f"cannot revert {type(self).__name__}: it was never applied")
        with _transaction(store):
            self._undo(store)
            for image_id, status in self._statuses.items():
                if store.image(image_id).status != status:
                    store.set_status(image_id, status)

    @property
    def touched_images(self) -> list[int]:
        """Ids of the images this command changed (known after the first apply): what a view refreshes."""
        return list(self._statuses or ())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.text!r}>"


def _transaction(store: BoxStore) -> ContextManager[None]:
    tx = getattr(store, "transaction", None)
    return tx() if tx is not None else contextlib.nullcontext()


def _readd(store: BoxStore, box: Box) -> Box:
    return store.add_box(box, keep_id=True)


class AddBox(Command):
    """Draw a new box (clipped to the image). ``created`` is the stored box after apply."""

    def __init__(self, box: Box, text: str = "Add box") -> None:
        super().__init__()
        self.box = box
        self.text = text
        self.created: Box | None = None

    def _touched_images(self, store: BoxStore) -> Iterable[int]:
        return (self.box.image_id,)

    def _do(self, store: BoxStore) -> None:
        if self.created is None:
            clipped = clip_to_image(replace(self.box, id=0), store.image(self.box.image_id))
            self.created = store.add_box(clipped)
        else:
            self.created = _readd(store, self.created)

    def _undo(self, store: BoxStore) -> None:
        assert self.created is not None
        store.delete_box(self.created.id)


class DeleteBoxes(Command):
    """Delete boxes (any source); undo brings them back with their ids."""

    def __init__(self, box_ids: Sequence[int], text: str | None = None) -> None:
        super().__init__()
        self.box_ids = list(dict.fromkeys(box_ids))
        self.text = text or (f"Delete {len(self.box_ids)} boxes" if len(self.box_ids) != 1 else "Delete box")
        self._deleted: list[Box] = []

    def _touched_images(self, store: BoxStore) -> Iterable[int]:
        return dict.fromkeys(store.get_box(i).image_id for i in self.box_ids)

    def _do(self, store: BoxStore) -> None:
        self._deleted = [store.delete_box(i) for i in self.box_ids]

    def _undo(self, store: BoxStore) -> None:
        for box in self._deleted:
            _readd(store, box)


class _UpdateBoxes(Command):
    """Shared machinery: replace boxes in place, remembering the old versions."""

    def __init__(self, box_ids: Sequence[int]) -> None:
        super().__init__()
        self.box_ids = list(dict.fromkeys(box_ids))
        self._old: list[Box] = []

    def _touched_images(self, store: BoxStore) -> Iterable[int]:
        return dict.fromkeys(store.get_box(i).image_id for i in self.box_ids)

    def _new_version(self, store: BoxStore, old: Box) -> Box:  # pragma: no cover - abstract
        raise NotImplementedError

    def _do(self, store: BoxStore) -> None:
        self._old = [store.get_box(i) for i in self.box_ids]
        new = [self._new_version(store, old) for old in self._old]  # validate all before writing
        for box in new:
            store.update_box(box)

    def _undo(self, store: BoxStore) -> None:
        for box in self._old:
            store.update_box(box)


def _touched_source(box: Box) -> BoxSource:
    """A prediction a person edits becomes their work (accepted), so re-prediction keeps it."""
    return BoxSource.ACCEPTED if box.source is BoxSource.PREDICTED else box.source


class MoveResizeBox(_UpdateBoxes):
    """Set a box's corners (clipped to its image)."""

    def __init__(self, box_id: int, x1: float, y1: float, x2: float, y2: float, text: str = "Move box") -> None:
        super().__init__([box_id])
        self.coords = (float(x1), float(y1), float(x2), float(y2))
        self.text = text

    def _new_version(self, store: BoxStore, old: Box) -> Box:
        moved = replace(old.with_coords(*self.coords), source=_touched_source(old))
        return clip_to_image(moved, store.image(old.image_id))


class Relabel(_UpdateBoxes):
    """Give boxes another category."""

    def __init__(self, box_ids: Sequence[int], category_id: int, text: str | None = None) -> None:
        super().__init__(box_ids)
        self.category_id = int(category_id)
        self.text = text or ("Relabel box" if len(self.box_ids) == 1 else f"Relabel {len(self.box_ids)} boxes")

    def _new_version(self, store: BoxStore, old: Box) -> Box:
        return replace(old, category_id=self.category_id, source=_touched_source(old))


class AcceptPredictions(Command):
    """Turn predictions into accepted boxes: each prediction is replaced by a new accepted box."""

    def __init__(self, box_ids: Sequence[int], text: str | None = None) -> None:
        super().__init__()
        self.box_ids = list(dict.fromkeys(box_ids))
        self.text = text or ("Accept prediction" if len(self.box_ids) == 1 else f"Accept {len(self.box_ids)} predictions")
        self._predictions: list[Box] = []
        self.accepted: list[Box] = []

    def _touched_images(self, store: BoxStore) -> Iterable[int]:
        return dict.fromkeys(store.get_box(i).image_id for i in self.box_ids)

    def _do(self, store: BoxStore) -> None:
        preds = [store.get_box(i) for i in self.box_ids]
        for p in preds:
            if p.source is not BoxSource.PREDICTED:
                raise ValueError(f"box {p.id} is {p.source.value}, not a prediction")
        first_time = not self.accepted
        self._predictions = preds
        made: list[Box] = []
        for k, p in enumerate(preds):
            store.delete_box(p.id)
            if first_time:
                made.append(store.add_box(replace(p, id=0, source=BoxSource.ACCEPTED)))
            else:
                made.append(_readd(store, self.accepted[k]))
        self.accepted = made

    def _undo(self, store: BoxStore) -> None:
        for box in self.accepted:
            store.delete_box(box.id)
        for p in self._predictions:
            _readd(store, p)


class AcceptAllAbove(AcceptPredictions):
    """Accept every prediction on one image whose score is at least ``threshold``."""

    def __init__(self, image_id: int, threshold: float) -> None:
        super().__init__([], text=f"Accept predictions ≥ {threshold:.2f}")
        self.image_id = image_id
        self.threshold = float(threshold)
        self._chosen = False

    def _touched_images(self, store: BoxStore) -> Iterable[int]:
        if not self._chosen:
            self.box_ids = [
                b.id
                for b in store.boxes(self.image_id)
                if b.source is BoxSource.PREDICTED and (b.score if b.score is not None else 0.0) >= self.threshold
            ]
            self._chosen = True
        return (self.image_id,)


class RejectPredictions(DeleteBoxes):
    """Drop predictions (only predictions: a person's boxes are refused here)."""

    def __init__(self, box_ids: Sequence[int]) -> None:
        super().__init__(box_ids, text="Reject prediction" if len(box_ids) == 1 else f"Reject {len(box_ids)} predictions")

    def _do(self, store: BoxStore) -> None:
        for i in self.box_ids:
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
                copy = replace(b, id=0, image_id=self.dst, source=BoxSource.MANUAL, score=None, verified=False)
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


class UndoHistory:
    """Plain-Python undo/redo stacks over one store (the GUI uses QUndoStack instead)."""

    def __init__(self, store: BoxStore, limit: int = 1000) -> None:
        self.store = store
        self.limit = limit
        self._undo: list[Command] = []
        self._redo: list[Command] = []

    def push(self, command: Command) -> Command:
        """Apply ``command``; on success it joins the undo stack and the redo stack clears."""
        command.apply(self.store)
        self._undo.append(command)
        del self._undo[: max(0, len(self._undo) - self.limit)]
        self._redo.clear()
        return command

    def undo(self) -> Command | None:
        if not self._undo:
            return None
        cmd = self._undo[-1]
        cmd.revert(self.store)
        self._redo.append(self._undo.pop())
        return cmd

    def redo(self) -> Command | None:
        if not self._redo:
            return None
        cmd = self._redo[-1]
        cmd.apply(self.store)
        self._undo.append(self._redo.pop())
        return cmd

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_text(self) -> str | None:
        return self._undo[-1].text if self._undo else None

    @property
    def redo_text(self) -> str | None:
        return self._redo[-1].text if self._redo else None

    def __iter__(self) -> Iterator[Command]:
        return iter(self._undo)
