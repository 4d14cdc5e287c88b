"""The one undo history: steps of already-applied commands, undone and redone exactly.

* A step is applied *before* it is recorded, inside one store transaction: an edit the store
  refuses (``InvalidBoxError``, a vanished box, a closed project) rolls back whole and leaves no
  step behind.
* With ``merge_window_s`` > 0 (the session uses :data:`MERGE_WINDOW_S`), consecutive commands
  with the same :meth:`Command.merge_key` (arrow-key nudges of one box) pushed within that time
  join the top step; the step keeps every command and undoes them in reverse, so undo stays exact.
* Undo/redo of a step runs in one transaction. When the store refuses it (someone changed the
  project behind the history's back) nothing changes, the history is cleared (it no longer
  matches the project) and :class:`HistoryError` says so.
* :meth:`UndoHistory.forget_predictions` tells every step that a new model run replaced some
  images' predictions; steps left with nothing to do are dropped.

The application's session (``rnxstudio.data.session.ProjectSession``) owns one of these; the CLI
and tests may use it on a bare store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from rnxstudio.core.commands import BoxStore, Command

# Errors an edit may legitimately hit (bad geometry, a box that is gone, a closed store).
# Anything else is a bug and propagates (after the transaction rolled back).
EDIT_ERRORS: tuple[type[BaseException], ...] = (ValueError, LookupError, RuntimeError)
MERGE_WINDOW_S = 1.0


class HistoryError(RuntimeError):
    """An undo or redo the store refused; the history was cleared."""


@dataclass
class Step:
    """One undo step: one or more applied commands."""

    text: str
    commands: list[Command]
    stamp: float = 0.0
    merge_key: object = None

    @property
    def image_ids(self) -> list[int]:
        return list(dict.fromkeys(i for c in self.commands for i in c.image_ids))

    @property
    def box_ids(self) -> list[int]:
        return list(dict.fromkeys(i for c in self.commands for i in c.box_ids))

    @property
    def changes_categories(self) -> bool:
        return any(c.changes_categories for c in self.commands)


@dataclass
class UndoHistory:
    """Undo/redo stacks of :class:`Step` over one store."""

    store: BoxStore
    limit: int = 1000
    merge_window_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    _undo: list[Step] = field(default_factory=list, repr=False)
    _redo: list[Step] = field(default_factory=list, repr=False)

    # ------------------------------------------------------------------ recording
    def push(self, command: Command) -> Command:
        """Apply ``command`` and record it (merged into the top step when it may be)."""
        key = command.merge_key()
        top = self._undo[-1] if self._undo else None
        now = self.clock()
        with self.store.transaction():
            command.apply(self.store)
        if (key is not None and top is not None and top.merge_key == key and self.merge_window_s > 0
                and now - top.stamp <= self.merge_window_s):
            top.commands.append(command)
            top.stamp = now
        else:
            self._record(Step(command.text, [command], now, key))
        self._redo.clear()
        return command

    def push_group(self, commands: Sequence[Command], text: str) -> Step:
        """Apply several commands as ONE undo step; all or nothing."""
        commands = list(commands)
        if not commands:
            raise ValueError("an undo step needs at least one command")
        with self.store.transaction():
            for c in commands:
                c.apply(self.store)
        step = Step(text, commands, self.clock())
        self._record(step)
        self._redo.clear()
        return step

    def _record(self, step: Step) -> None:
        self._undo.append(step)
        del self._undo[: max(0, len(self._undo) - self.limit)]

    # ------------------------------------------------------------------ undo / redo
    def undo(self) -> Step | None:
        """Revert the top step; None when there is nothing to undo."""
        if not self._undo:
            return None
        step = self._undo[-1]
        self._run(step, lambda c: c.revert(self.store), reversed(step.commands), "undo")
        self._redo.append(self._undo.pop())
        return step

    def redo(self) -> Step | None:
        if not self._redo:
            return None
        step = self._redo[-1]
        self._run(step, lambda c: c.apply(self.store), step.commands, "redo")
        self._undo.append(self._redo.pop())
        return step

    def _run(self, step: Step, fn: Callable[[Command], None], commands: Iterable[Command], what: str) -> None:
        try:
            with self.store.transaction():
                for c in commands:
                    fn(c)
        except EDIT_ERRORS as exc:
            self.clear()
            raise HistoryError(f"{what} {step.text}: {exc} (undo history cleared)") from exc

    # ------------------------------------------------------------------ outside changes
    def forget_predictions(self, image_ids: Iterable[int]) -> None:
        """A new model run replaced the predictions of ``image_ids`` (see Command.forget_predictions)."""
        ids = set(image_ids)
        if not ids:
            return
        for stack in (self._undo, self._redo):
            for step in stack:
                for c in step.commands:
                    c.forget_predictions(ids)
                step.commands = [c for c in step.commands if not c.is_empty]
            stack[:] = [s for s in stack if s.commands]

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    # ------------------------------------------------------------------ state
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

    def __len__(self) -> int:
        return len(self._undo)

    def __iter__(self) -> Iterator[Step]:
        return iter(self._undo)
