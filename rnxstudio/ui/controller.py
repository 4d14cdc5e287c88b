"""The project controller: which project is open, which image is current, and moving between
images. Views subscribe to its signals; it never touches widgets.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from rnxstudio.core.model import ImageRecord
from rnxstudio.ui.file_list import FileListModel
from rnxstudio.ui.image_cache import ImageCache

PREFETCH_AHEAD = 2


class ProjectController(QObject):
    project_opened = Signal(object)  # ProjectStore
    project_closed = Signal()
    current_changed = Signal(object)  # ImageRecord | None
    image_ready = Signal(object, object, object)  # ImageRecord, rgb | None, error | None
    error = Signal(str, str)  # title, message

    def __init__(self, parent=None):
        super().__init__(parent)
        self.store = None
        self.source_path: str | None = None
        self.files = FileListModel(self)
        self.cache = ImageCache(parent=self)
        self.cache.ready.connect(self._on_decoded)
        self._current: ImageRecord | None = None

    # ---- project ------------------------------------------------------------------------
    def open_path(self, path: str | Path) -> bool:
        """Open a project file, image folder or video. On failure emit ``error`` and keep
        the current project open."""
        from rnxstudio.data.project import ProjectError, open_project

        try:
            store = open_project(str(path))
        except ProjectError as exc:
            self.error.emit("Cannot open", str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - a broken project file must not crash the app
            self.error.emit("Cannot open", f"{path}: {exc}")
            return False
        self.close_project()
        self.store = store
        self.source_path = str(path)
        self.files.set_store(store)
        self.project_opened.emit(store)
        ids = self.files.ids()
        self.set_current(ids[0] if ids else None)
        return True

    def close_project(self) -> None:
        if self.store is None:
            return
        self.cache.clear()
        self.files.set_store(None)
        self._current = None
        store, self.store = self.store, None
        store.close()
        self.project_closed.emit()
        self.current_changed.emit(None)

    def shutdown(self) -> None:
        self.cache.shutdown()
        self.close_project()

    # ---- navigation ---------------------------------------------------------------------
    @property
    def current(self) -> ImageRecord | None:
        return self._current

    @property
    def current_row(self) -> int | None:
        return None if self._current is None else self.files.row_of(self._current.id)

    def refresh_current(self) -> None:
        """Re-read the current record from the store (its status or size changed)."""
        if self._current is not None and self.store is not None:
            self._current = self.store.image(self._current.id)
            self.files.invalidate(self._current.id)

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
        if cur is None or key != cur.id:
            return
        if rgb is not None and (cur.width, cur.height) != (rgb.shape[1], rgb.shape[0]):
            self.store.set_image_size(cur.id, int(rgb.shape[1]), int(rgb.shape[0]))
            self.refresh_current()
            cur = self._current
        if (error or None) != (cur.error or None):
            self.store.set_image_error(cur.id, error)
            self.refresh_current()
            cur = self._current
        self.image_ready.emit(cur, rgb, error)
