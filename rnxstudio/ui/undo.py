"""UndoBridge: a QUndoStack over the plain-Python commands of :mod:`rnxstudio.core.commands`.

A command is applied to the store *before* it joins the stack, so an edit the store refuses
(``InvalidBoxError``, a vanished box, a closed project) never leaves an entry behind. Undo and
redo call ``revert(store)`` / ``apply(store)``; every change emits ``changed(image_id)`` for each
image it touched, so views refresh from the store (napari style: the stack never knows views).

Consecutive moves of the same box pushed within :data:`MERGE_WINDOW_S` (arrow-key nudges)
collapse into one undo step; the merged step keeps every core command and undoes them in
reverse, so undo stays exact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QUndoCommand, QUndoStack

log = logging.getLogger(__name__)

MERGE_WINDOW_S = 1.0
_MOVE_ID = 0x52_4E_58  # QUndoCommand.id() shared by mergeable single-box moves

# Errors an edit may legitimately hit (bad geometry, a box that is gone, a closed store).
# Anything else is a bug and propagates.
EDIT_ERRORS: tuple[type[BaseException], ...] = (ValueError, LookupError, RuntimeError)


class CoreCommand(Protocol):
    """What :mod:`rnxstudio.core.commands` commands provide."""

    text: str

    def apply(self, store: Any) -> None: ...

    def revert(self, store: Any) -> None: ...


def touched_images(command: CoreCommand) -> list[int]:
    """Image ids a command touched (known once it was applied)."""
    ids = getattr(command, "touched_image_ids", None)
    if ids is None:
        ids = getattr(command, "_statuses", None) or {}  # core.commands records them at apply
    if not ids:
        single = getattr(command, "image_id", None)
        ids = [single] if single is not None else []
    return [int(i) for i in ids]


def _move_key(command: CoreCommand) -> tuple[int, ...] | None:
    """Box ids of a single-box move/resize command, or None when not mergeable."""
    if type(command).__name__ != "MoveResizeBox":
        return None
    ids = tuple(getattr(command, "box_ids", ()))
    return ids if len(ids) == 1 else None


class _StackEntry(QUndoCommand):
    """One undo step holding one or more already-applied core commands."""

    def __init__(self, bridge: UndoBridge, commands: list[CoreCommand], text: str) -> None:
        super().__init__(text)
        self._bridge = bridge
        self.commands = commands
        self._skip_redo = True  # push() applied the commands already
        self._stamp = time.monotonic()
        self._key = _move_key(commands[0]) if len(commands) == 1 else None

    def redo(self) -> None:
        if self._skip_redo:
            self._skip_redo = False
            return
        self._bridge._run(self, [(c, c.apply) for c in self.commands])

    def undo(self) -> None:
        self._bridge._run(self, [(c, c.revert) for c in reversed(self.commands)])

    def id(self) -> int:  # noqa: A003 - Qt override
        return _MOVE_ID if self._key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt override
        if not isinstance(other, _StackEntry) or other._key is None or other._key != self._key:
            return False
        if other._stamp - self._stamp > MERGE_WINDOW_S:
            return False
        self.commands.extend(other.commands)
        self._stamp = other._stamp
        return True


class UndoBridge(QObject):
    """Owns the QUndoStack of one open project; see the module docstring."""

    changed = Signal(int)  # image id whose boxes or status changed
    failed = Signal(str)  # a human-readable reason an edit, undo or redo did not happen

    def __init__(self, store: Any, parent: QObject | None = None, *, limit: int = 1000) -> None:
        super().__init__(parent)
        self.store = store
        self.stack = QUndoStack(self)
        self.stack.setUndoLimit(limit)

    def set_store(self, store: Any) -> None:
        """Switch to another project; the history of the previous one is dropped."""
        self.stack.clear()
        self.store = store

    # ----------------------------------------------------------- pushing
    def push(self, command: CoreCommand) -> bool:
        """Apply ``command`` and record it. False (and ``failed``) when the store refused it."""
        return self.push_group([command], command.text)

    def push_group(self, commands: Sequence[CoreCommand], text: str) -> bool:
        """Apply several commands as ONE undo step; all or nothing."""
        commands = list(commands)
        if not commands:
            return False
        done: list[CoreCommand] = []
        try:
            for c in commands:
                c.apply(self.store)
                done.append(c)
        except EDIT_ERRORS as exc:
            for c in reversed(done):
                c.revert(self.store)
            self._emit_changed(done)
            self.failed.emit(f"{text}: {exc}")
            return False
        self.stack.push(_StackEntry(self, commands, text))
        self._emit_changed(commands)
        return True

    # ------------------------------------------------------- undo / redo
    def undo(self) -> None:
        self.stack.undo()

    def redo(self) -> None:
        self.stack.redo()

    def can_undo(self) -> bool:
        return self.stack.canUndo()

    def can_redo(self) -> bool:
        return self.stack.canRedo()

    def clear(self) -> None:
        self.stack.clear()

    def create_undo_action(self, parent: QObject) -> QAction:
        """A QAction whose text follows the next undo step ("Undo Move box")."""
        return self.stack.createUndoAction(parent)

    def create_redo_action(self, parent: QObject) -> QAction:
        return self.stack.createRedoAction(parent)

    def _run(self, entry: _StackEntry, steps: Iterable[tuple[CoreCommand, Any]]) -> None:
        """Run undo/redo steps; a failure drops the whole history (it no longer matches)."""
        ran: list[CoreCommand] = []
        try:
            for command, fn in steps:
                fn(self.store)
                ran.append(command)
        except EDIT_ERRORS as exc:
            log.warning("undo/redo of %r failed: %s", entry.text(), exc)
            self.failed.emit(f"{entry.text()}: {exc} (undo history cleared)")
            entry.setObsolete(True)
            QTimer.singleShot(0, self.stack.clear)
        finally:
            self._emit_changed(ran)

    def _emit_changed(self, commands: Iterable[CoreCommand]) -> None:
        seen: dict[int, None] = {}
        for c in commands:
            for image_id in touched_images(c):
                seen.setdefault(image_id, None)
        for image_id in seen:
            self.changed.emit(image_id)
