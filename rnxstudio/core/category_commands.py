"""Undoable class edits: add, rename, merge and delete a category.

They join the same history as the box edits (:mod:`rnxstudio.core.commands`), so Undo after
"Delete class" brings the class back at its place in the list, with its id, colour and every box
it had. Deleting or merging a class with 100,000 boxes is one bulk statement each way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from rnxstudio.core.commands import BoxStore, Command, replaced_prediction
from rnxstudio.core.model import Box, Category, default_color


@runtime_checkable
class CategoryStore(BoxStore, Protocol):
    """What class edits need from a store, on top of :class:`BoxStore`."""

    def categories(self) -> list[Category]: ...

    def add_category(self, name: str, color: str | None = None, hotkey: str | None = None, id: int | None = None,
                     supercategory: str = "") -> Category: ...

    def update_category(self, cat: Category) -> Category: ...

    def delete_category(self, category_id: int) -> int: ...

    def restore_category(self, cat: Category, position: int) -> Category: ...

    def boxes_of_category(self, category_id: int) -> list[Box]: ...

    def set_box_category(self, box_ids: Sequence[int], category_id: int) -> None: ...


def _category(store: CategoryStore, category_id: int) -> Category:
    for c in store.categories():
        if c.id == category_id:
            return c
    raise KeyError(f"no class with id {category_id}")


class _CategoryCommand(Command):
    changes_categories = True

    def __init__(self) -> None:
        super().__init__()
        self._boxes: list[Box] = []  # the boxes the edit moved or removed (for undo)

    def _touched_images(self, store) -> Iterable[int]:
        return ()  # class edits never change an image's status

    def _forget(self, image_ids: set[int]) -> None:
        self._boxes = [b for b in self._boxes if not replaced_prediction(b, image_ids)]

    @property
    def image_ids(self) -> list[int]:
        return list(dict.fromkeys(b.image_id for b in self._boxes))

    @property
    def box_ids(self) -> list[int]:
        return [b.id for b in self._boxes]


class _Removal(_CategoryCommand):
    """Remove one class with its boxes; undo restores both (id, place in the list, colour)."""

    def __init__(self) -> None:
        super().__init__()
        self._removed: Category | None = None
        self._position = 0

    def _remove(self, store: CategoryStore, category_id: int) -> None:
        self._removed = _category(store, category_id)
        self._boxes = store.boxes_of_category(category_id)
        for b in self._boxes:
            store.delete_box(b.id)
        self._position = store.delete_category(category_id)

    def _restore(self, store: CategoryStore) -> None:
        assert self._removed is not None
        store.restore_category(self._removed, self._position)
        for b in self._boxes:
            store.add_box(b, keep_id=True)


class AddCategory(_Removal):
    """Add a class (the next palette colour unless one is given). ``created`` after apply."""

    def __init__(self, name: str, color: str | None = None) -> None:
        super().__init__()
        self.name = name.strip()
        self.color = color
        self.text = f"Add class {self.name!r}"
        self.created: Category | None = None

    def _do(self, store: CategoryStore) -> None:
        if self.created is None:
            color = self.color or default_color(len(store.categories()))
            self.created = store.add_category(self.name, color=color)
        else:
            self._restore(store)

    def _undo(self, store: CategoryStore) -> None:
        # boxes given the class since (predictions of a model run) go with it and come back on redo
        assert self.created is not None
        self._remove(store, self.created.id)


class RenameCategory(_CategoryCommand):
    def __init__(self, category_id: int, name: str) -> None:
        super().__init__()
        self.category_id = int(category_id)
        self.name = name.strip()
        self.text = f"Rename class to {self.name!r}"
        self._old: Category | None = None

    def _do(self, store: CategoryStore) -> None:
        if not self.name:
            raise ValueError("a class needs a non-empty name")
        self._old = _category(store, self.category_id)
        store.update_category(replace(self._old, name=self.name))

    def _undo(self, store: CategoryStore) -> None:
        assert self._old is not None
        store.update_category(self._old)


class DeleteCategory(_Removal):
    """Delete a class and every box of it (a person's and the model's)."""

    def __init__(self, category_id: int, name: str = "") -> None:
        super().__init__()
        self.category_id = int(category_id)
        self.text = f"Delete class {name!r}" if name else "Delete class"

    def _do(self, store: CategoryStore) -> None:
        self._remove(store, self.category_id)

    def _undo(self, store: CategoryStore) -> None:
        self._restore(store)


class MergeCategories(_Removal):
    """Give every box of class ``source`` the class ``target``, then remove ``source``."""

    def __init__(self, source_id: int, target_id: int, text: str | None = None) -> None:
        super().__init__()
        if int(source_id) == int(target_id):
            raise ValueError("cannot merge a class into itself")
        self.source_id, self.target_id = int(source_id), int(target_id)
        self.text = text or "Merge classes"

    def _do(self, store: CategoryStore) -> None:
        _category(store, self.target_id)  # refuse an unknown target before writing anything
        self._removed = _category(store, self.source_id)
        self._boxes = store.boxes_of_category(self.source_id)
        store.set_box_category([b.id for b in self._boxes], self.target_id)
        self._position = store.delete_category(self.source_id)

    def _undo(self, store: CategoryStore) -> None:
        assert self._removed is not None
        store.restore_category(self._removed, self._position)
        store.set_box_category([b.id for b in self._boxes], self.source_id)
