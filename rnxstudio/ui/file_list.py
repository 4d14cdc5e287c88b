"""The image list: a Qt model over the project store (never a widget holding 100k items).

The model keeps only the ordered list of image ids for the current filter; records are fetched
from the store in pages as rows become visible and kept in a small cache. It follows the
session by itself: a status, size or error change repaints the row, an import or a class edit
re-runs the filter. Nothing here decodes an image.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt

from rnxstudio.core.model import ImageRecord, ImageStatus
from rnxstudio.ui.icons import icon

PAGE = 256
_STATUS_ICONS = {
    ImageStatus.UNLABELED: ("fa5s.circle", "#9e9e9e"),
    ImageStatus.PREDICTED: ("fa5s.magic", "#7e57c2"),
    ImageStatus.IN_PROGRESS: ("fa5s.pen", "#fb8c00"),
    ImageStatus.VERIFIED: ("fa5s.check-circle", "#43a047"),
}
STATUS_LABELS = {
    None: "All images",
    ImageStatus.UNLABELED: "Unlabeled",
    ImageStatus.PREDICTED: "Predicted",
    ImageStatus.IN_PROGRESS: "In progress",
    ImageStatus.VERIFIED: "Verified",
}
ImageIdRole = Qt.UserRole + 1


class FileListModel(QAbstractListModel):
    def __init__(self, session, parent=None):
        """``session``: the :class:`~rnxstudio.ui.session_qt.SessionQt` whose project is listed."""
        super().__init__(parent)
        self._store = None
        self._ids: list[int] = []
        self._row_of: dict[int, int] = {}
        self._records: dict[int, ImageRecord] = {}
        self._filter: dict = {"status": None, "category_id": None, "search": None}
        session.opened.connect(lambda s: self._set_store(s.store))
        session.closed.connect(lambda: self._set_store(None))
        session.images_changed.connect(self._on_images_changed)
        session.boxes_changed.connect(lambda _b, _i, cause: self._reload() if cause == "import" else None)
        session.categories_changed.connect(lambda: self._reload() if self._filter["category_id"] is not None else None)

    # ---- population -------------------------------------------------------------------
    def _set_store(self, store) -> None:
        self._store = store
        self._reload()

    def set_filter(self, *, status=None, category_id=None, search=None) -> None:
        self._filter = {"status": status, "category_id": category_id, "search": search or None}
        self._reload()

    @property
    def filter(self) -> dict:
        return dict(self._filter)

    def _reload(self) -> None:
        self.beginResetModel()
        self._records.clear()
        self._ids = list(self._store.image_ids(**self._filter)) if self._store is not None else []
        self._row_of = {image_id: row for row, image_id in enumerate(self._ids)}
        self.endResetModel()

    def _on_images_changed(self, image_ids) -> None:
        """Re-read the changed records and repaint their rows (all rows for None)."""
        if image_ids is None:
            self._records.clear()
            if self._ids:
                self.dataChanged.emit(self.index(0), self.index(len(self._ids) - 1))
            return
        for image_id in image_ids:
            self._records.pop(image_id, None)
            row = self._row_of.get(image_id)
            if row is not None:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx)

    # ---- lookups ----------------------------------------------------------------------
    def ids(self) -> list[int]:
        return self._ids

    def id_at(self, row: int) -> int | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def record(self, image_id: int) -> ImageRecord | None:
        rec = self._records.get(image_id)
        if rec is None and self._store is not None:
            row = self._row_of.get(image_id)
            if row is None:
                return self._store.image(image_id)
            start = (row // PAGE) * PAGE
            page_ids = self._ids[start : start + PAGE]
            for r in self._store.images(page_ids):
                self._records[r.id] = r
            if len(self._records) > 8 * PAGE:  # keep the cache small on huge projects
                keep = set(page_ids)
                self._records = {k: v for k, v in self._records.items() if k in keep}
            rec = self._records.get(image_id)
        return rec

    # ---- Qt model API -----------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._ids)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._ids):  # a view's stale index
            return None
        image_id = self._ids[index.row()]
        if role == ImageIdRole:
            return image_id
        rec = self.record(image_id)
        if rec is None:
            return None
        if role == Qt.DisplayRole:
            return rec.display_name
        if role == Qt.DecorationRole:
            if rec.error or rec.missing:
                return icon("fa5s.exclamation-triangle", "#e53935")
            name, color = _STATUS_ICONS.get(rec.status, _STATUS_ICONS[ImageStatus.UNLABELED])
            return icon(name, color)
        if role == Qt.ToolTipRole:
            parts = [rec.path, f"status: {rec.status.value.replace('_', ' ')}"]
            if rec.width:
                parts.append(f"{rec.width}×{rec.height}")
            if rec.missing:
                parts.append("file missing on disk (its boxes are kept)")
            if rec.error:
                parts.append(f"unreadable: {rec.error}")
            return "\n".join(parts)
        return None
