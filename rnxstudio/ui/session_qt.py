"""SessionQt: the open project's :class:`~rnxstudio.data.session.ProjectSession` as Qt signals.

The one place in the GUI that opens and closes projects and the only route from the ui wing to
the project's writer: features call ``session_qt.session.<method>`` to change anything, and
views connect to the signals below to stay in step. Events reach the signals on the GUI thread
(queued there if a session method ever ran elsewhere). Nothing in ``rnxstudio/ui`` writes the
store directly, and nothing refreshes a view by hand.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, QThread, Qt, Signal, Slot

from rnxstudio.data import events as ev
from rnxstudio.data.session import ProjectSession


class SessionQt(QObject):
    opened = Signal(object)  # ProjectSession
    closed = Signal()
    images_changed = Signal(object)  # tuple of image ids, or None (any)
    boxes_changed = Signal(object, object, str)  # box ids, image ids (or None), cause
    predictions_changed = Signal(object, str)  # image ids, model name
    categories_changed = Signal()
    models_changed = Signal(int)  # model id
    runs_changed = Signal(int)  # run id
    history_changed = Signal(object, object)  # undo text, redo text (None: nothing to undo/redo)
    refused = Signal(str)  # an edit, undo or redo the project refused, and why

    _elsewhere = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session: ProjectSession | None = None
        self._unsubscribe = None
        self._elsewhere.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)

    # ------------------------------------------------------------------ lifecycle
    def open(self, path: str | os.PathLike) -> ProjectSession:
        """Open ``path`` (project file, image folder or video) and make it current; the previous
        project stays open when this raises (ProjectError, or anything a broken file causes)."""
        session = ProjectSession.open(path)
        self.close()
        self.session = session
        self._unsubscribe = session.subscribe(self._on_event)
        self.opened.emit(session)
        self.history_changed.emit(None, None)
        return session

    def close(self) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        session.close()
        self.closed.emit()
        self.history_changed.emit(None, None)

    # ------------------------------------------------------------------ relay
    def _on_event(self, event: ev.Event) -> None:
        if QThread.currentThread() is self.thread():
            self._dispatch(event)
        else:
            self._elsewhere.emit(event)

    @Slot(object)
    def _dispatch(self, event: ev.Event) -> None:
        if isinstance(event, ev.ImagesChanged):
            self.images_changed.emit(event.image_ids)
        elif isinstance(event, ev.BoxesChanged):
            self.boxes_changed.emit(event.ids, event.image_ids, event.cause)
        elif isinstance(event, ev.PredictionsChanged):
            self.predictions_changed.emit(event.image_ids, event.model_name)
        elif isinstance(event, ev.CategoriesChanged):
            self.categories_changed.emit()
        elif isinstance(event, ev.ModelsChanged):
            self.models_changed.emit(event.model_id)
        elif isinstance(event, ev.RunsChanged):
            self.runs_changed.emit(event.run_id)
        elif isinstance(event, ev.HistoryChanged):
            self.history_changed.emit(event.undo_text, event.redo_text)
        elif isinstance(event, ev.EditRefused):
            self.refused.emit(event.message)


def touches(image_ids: tuple[int, ...] | None, image_id: int | None) -> bool:
    """Whether an event about ``image_ids`` (None: any image) concerns ``image_id``."""
    return image_id is not None and (image_ids is None or image_id in image_ids)
