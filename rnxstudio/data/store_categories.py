"""Class edits that undo needs from the store (delete, restore at a place, bulk relabel): a mixin
of :class:`~rnxstudio.data.store.ProjectStore`, used by :mod:`rnxstudio.core.category_commands`."""

from __future__ import annotations

from collections.abc import Sequence

from rnxstudio.core.model import Category


class CategoryEditError(RuntimeError):
    """A class edit the project refuses (a class still in use, an id taken); names the class."""


class CategoryEditsMixin:
    """Needs the store's ``_q``, ``transaction``, ``add_category`` and ``update_category``."""

    def delete_category(self, category_id: int) -> int:
        """Remove a category no box refers to; returns its place in the list (for undo)."""
        with self.transaction():
            row = self._q("SELECT position FROM categories WHERE id = ?", (category_id,)).fetchone()
            if row is None:
                raise KeyError(f"no category with id {category_id}")
            if self._q("SELECT 1 FROM boxes WHERE category_id = ? LIMIT 1", (category_id,)).fetchone():
                raise CategoryEditError(f"category {category_id} still has boxes")
            self._q("DELETE FROM categories WHERE id = ?", (category_id,))
        return int(row[0])

    def restore_category(self, cat: Category, position: int) -> Category:
        """Put a deleted category back with its id, at ``position`` in the list (undo of a delete)."""
        with self.transaction():
            if self._q("SELECT 1 FROM categories WHERE id = ?", (cat.id,)).fetchone():
                raise CategoryEditError(f"cannot restore class {cat.name!r}: its id {cat.id} is taken")
            self._q("UPDATE categories SET position = position + 1 WHERE position >= ?", (position,))
            self.add_category(cat.name, color=cat.color, hotkey=cat.hotkey, id=cat.id, supercategory=cat.supercategory)
            self.update_category(cat)  # whatever else a category carries, as it was
            self._q("UPDATE categories SET position = ? WHERE id = ?", (position, cat.id))
        return cat

    def set_box_category(self, box_ids: Sequence[int], category_id: int) -> None:
        """Give boxes another category in one statement per 500 (no status change: a class edit)."""
        ids = list(box_ids)
        with self.transaction():
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                self._q(f"UPDATE boxes SET category_id = ? WHERE id IN ({','.join('?' * len(chunk))})",
                        (category_id, *chunk))
