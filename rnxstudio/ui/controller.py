"""The navigator: which project is open (through :class:`~rnxstudio.ui.session_qt.SessionQt`),
which image is current, moving between images and decoding them. Views subscribe to its signals;
it never touches widgets and never writes the store (image sizes and read errors found while
decoding go to the session, which announces them).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from rnxstudio.core.model import ImageRecord
from rnxstudio.ui.file_list import FileListModel
from rnxstudio.ui.image_cache import ImageCache
from rnxstudio.ui.session_qt import SessionQt, touches

PREFETCH_AHEAD = 2


class ProjectController(QObject):
    project_opened = Signal(object)  # ProjectStore (read it; write through the session)
    project_closed = Signal()
    current_changed = Signal(object)  # ImageRecord | None: another image is current
    record_changed = Signal(object)  # ImageRecord: the current image's status/size/error changed
    image_ready = Signal(object, object, object)  # ImageRecord, rgb | None, error | None
    error = Signal(str, str)  # title, message

    def __init__(self, session: SessionQt, parent=None):
        super().__init__(parent)
        self.sessions = session
        self.files = FileListModel(session, self)
        self.cache = ImageCache(parent=self)
        self.cache.ready.connect(self._on_decoded)
        self._current: ImageRecord | None = None
        session.closed.connect(self._on_closed)
        session.images_changed.connect(self._on_images_changed)
        session.boxes_changed.connect(self._on_boxes_changed)

    # ---- project ------------------------------------------------------------------------
    @property
    def session(self):
        """The open project's ProjectSession (None when none is open)."""
        return self.sessions.session

    @property
    def store(self):
        """The open project's store, for reading (None when none is open)."""
        return self.session.store if self.session is not None else None

    @property
    def source_path(self) -> str | None:
        return self.session.source_path if self.session is not None else None

    def open_path(self, path: str | Path) -> bool:
        """Open a project file, image folder or video. On failure emit ``error`` and keep
        the current project open."""
        from rnxstudio.data.project import ProjectError

        try:
            session = self.sessions.open(path)
        except ProjectError as exc:
            self.error.emit("Cannot open", str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - a broken project file must not crash the app
            self.error.emit("Cannot open", f"{path}: {exc}")
            return False
        self.project_opened.emit(session.store)
        ids = self.files.ids()
        self.set_current(ids[0] if ids else None)
        return True

    def close_project(self) -> None:
        self.sessions.close()

    def _on_closed(self) -> None:
        self.cache.clear()
        self._current = None
        self.project_closed.emit()
        self.current_changed.emit(None)

    def shutdown(self) -> None:
        self.cache.shutdown()
        self.close_project()

    # ---- what the session announces ------------------------------------------------------
    def _on_images_changed(self, image_ids) -> None:
        cur = self._current
        if cur is not None and touches(image_ids, cur.id) and self.store is not None:
            self._current = self.store.image(cur.id)
            self.record_changed.emit(self._current)

    def _on_boxes_changed(self, _box_ids, image_ids, cause: str) -> None:
        """Undo or redo of a change on another image brings that image on screen."""
        if cause not in ("undo", "redo") or not image_ids or self.store is None:
            return
        if self._current is None or self._current.id not in image_ids:
            self.set_current(image_ids[0])

    # ---- navigation ---------------------------------------------------------------------
    @property
    def current(self) -> ImageRecord | None:
        return self._current

    @property
    def current_row(self) -> int | None:
        return None if self._current is None else self.files.row_of(self._current.id)

    def set_current(self, image_id: int | None) -> None:
        if self.store is None or image_id is None:
            self._current = None
            self.current_changed.emit(None)
            return
        rec = self.store.image(image_id)
        self._current = rec
        self.current_changed.emit(rec)
        self.cache.request(rec.id, self.source_of(rec))
        self._prefetch_neighbours()

    def step(self, delta: int) -> bool:
        ids = self.files.ids()
        if not ids:
            return False
        row = self.current_row
        row = 0 if row is None else row + delta
        if not 0 <= row < len(ids):
            return False
        self.set_current(ids[row])
        return True

    def go_to_row(self, row: int) -> bool:
        image_id = self.files.id_at(row)
        if image_id is None:
            return False
        self.set_current(image_id)
        return True

    def source_of(self, rec: ImageRecord):
        path = self.store.absolute_path(rec)
        return (path, rec.frame_index) if rec.frame_index is not None else path

    def _prefetch_neighbours(self) -> None:
        row = self.current_row
        if row is None:
            return
        items = []
        for d in list(range(1, PREFETCH_AHEAD + 1)) + [-1]:
            image_id = self.files.id_at(row + d)
            if image_id is not None:
                rec = self.files.record(image_id)
                if rec is not None and not rec.missing:
                    items.append((rec.id, self.source_of(rec)))
        self.cache.prefetch(items)

    def _on_decoded(self, key, rgb, error) -> None:
        cur = self._current
        if cur is None or key != cur.id or self.session is None:
            return
        if rgb is not None and (cur.width, cur.height) != (rgb.shape[1], rgb.shape[0]):
            self.session.set_image_size(cur.id, int(rgb.shape[1]), int(rgb.shape[0]))
        if (error or None) != (self._current.error or None):
            self.session.set_image_error(cur.id, error)
        self.image_ready.emit(self._current, rgb, error)
