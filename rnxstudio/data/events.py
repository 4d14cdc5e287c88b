"""What a :class:`~rnxstudio.data.session.ProjectSession` tells its subscribers after each change.

Plain frozen dataclasses, delivered synchronously on the thread that made the change (the
session's). ``image_ids=None`` means "any image may have changed" (an import, an export that
filled in image sizes). The GUI relays them as Qt signals (``rnxstudio.ui.session_qt``); views
subscribe and re-read what they show, nobody refreshes a view by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

IDS = tuple[int, ...]


@dataclass(frozen=True)
class ImagesChanged:
    """Status, size, error or missing flag of these images changed."""

    image_ids: IDS | None


@dataclass(frozen=True)
class BoxesChanged:
    """A person's edit (or its undo/redo, or an import) changed these boxes on these images.
    ``cause`` is "edit", "undo", "redo" or "import"."""

    ids: IDS
    image_ids: IDS | None
    cause: str = "edit"


@dataclass(frozen=True)
class PredictionsChanged:
    """A model run replaced the predictions of these images."""

    image_ids: IDS
    model_name: str


@dataclass(frozen=True)
class CategoriesChanged:
    """Classes were added, renamed, merged, deleted or restored."""


@dataclass(frozen=True)
class ModelsChanged:
    """A checkpoint was recorded in the project."""

    model_id: int


@dataclass(frozen=True)
class RunsChanged:
    """A training run was recorded or its status/metrics changed."""

    run_id: int


@dataclass(frozen=True)
class HistoryChanged:
    """What Undo / Redo would do now (texts are None when there is nothing to do)."""

    undo_text: str | None
    redo_text: str | None


@dataclass(frozen=True)
class EditRefused:
    """An edit, undo or redo the project refused; ``message`` says which and why."""

    message: str


Event = Union[ImagesChanged, BoxesChanged, PredictionsChanged, CategoriesChanged, ModelsChanged, RunsChanged,
              HistoryChanged, EditRefused]
Listener = Callable[[Event], None]


class EventHub:
    """Subscribers of one session; a failing subscriber does not stop the others seeing an event."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event; returns the function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, *events: Event) -> None:
        errors: list[BaseException] = []
        for event in events:
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception as exc:  # noqa: BLE001 - re-raised below, after everyone heard it
                    errors.append(exc)
        if errors:
            raise errors[0]
