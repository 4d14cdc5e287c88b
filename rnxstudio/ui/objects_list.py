"""The Objects dock: every box of the current image as a row — shown, locked, class, score and
where it came from — beside the canvas.

It follows the session (an edit, an undo, a model run or a class edit repaints it; nobody calls a
refresh) and the canvas selection, both ways: clicking a row selects the box on the canvas, which
also reaches a small box hidden under a bigger one. The eye and lock columns hide a box on the
canvas or keep it from being moved, resized or deleted (view state of this image, not saved).
"Reject all predictions" removes every prediction of the image, shown or not, as one undo step.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QItemSelection, QItemSelectionModel, QModelIndex, QObject, Qt
from PySide6.QtWidgets import QAbstractItemView, QDockWidget, QHeaderView, QPushButton, QTreeView, QVBoxLayout, QWidget

from rnxstudio.core.model import Box, BoxSource, Category
from rnxstudio.ui.context import AppContext
from rnxstudio.ui.icons import icon
from rnxstudio.ui.session_qt import touches

SHOWN, LOCKED, CLASS, SCORE, SOURCE = range(5)
HEADERS = ("", "", "Class", "Score", "Source")
BoxIdRole = Qt.ItemDataRole.UserRole + 1

_PROVENANCE_TEXT = {"drawn": "drawn", "manual": "drawn", "accepted": "accepted prediction",
                    "edited": "edited prediction", "predicted": "prediction"}


def source_text(box: Box) -> str:
    """How the box came to be. Reads ``Box.provenance`` when the project records it (issue 15,
    item 16); until then what ``source`` and ``model_name`` tell."""
    prov = getattr(box, "provenance", None)  # a Box field, by name: present once provenance lands
    if prov is not None:
        key = str(getattr(prov, "value", prov)).lower()
        text = _PROVENANCE_TEXT.get(key, key.replace("_", " "))
    elif box.source is BoxSource.PREDICTED:
        text = "prediction"
    elif box.source is BoxSource.ACCEPTED:
        text = "accepted prediction"
    else:
        text = "drawn"
    if box.model_name and box.source is not BoxSource.MANUAL:
        text += f" ({box.model_name})"
    return text


class ObjectsModel(QAbstractTableModel):
    """Rows: the current image's boxes in the canvas's order. The canvas owns shown/locked."""

    def __init__(self, canvas, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self._boxes: list[Box] = []
        self._cats: dict[int, Category] = {}

    def set_boxes(self, boxes: list[Box], categories: dict[int, Category]) -> None:
        self.beginResetModel()
        self._boxes, self._cats = list(boxes), dict(categories)
        self.endResetModel()

    def box_id(self, row: int) -> int:
        return self._boxes[row].id

    def row_of(self, box_id: int) -> int | None:
        return next((r for r, b in enumerate(self._boxes) if b.id == box_id), None)

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008, N802 - Qt signature
        return 0 if parent.isValid() else len(self._boxes)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008, N802 - Qt signature
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if role == Qt.ItemDataRole.DecorationRole and section in (SHOWN, LOCKED):
            return icon("fa5s.eye" if section == SHOWN else "fa5s.lock")
        if role == Qt.ItemDataRole.ToolTipRole and section in (SHOWN, LOCKED):
            return "Show on the image" if section == SHOWN else "Lock: no moving, resizing or deleting"
        return None

    def flags(self, index: QModelIndex):
        f = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return f | Qt.ItemFlag.ItemIsUserCheckable if index.column() in (SHOWN, LOCKED) else f

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._boxes):
            return None
        box, col = self._boxes[index.row()], index.column()
        if role == BoxIdRole:
            return box.id
        if role == Qt.ItemDataRole.CheckStateRole:
            if col == SHOWN:
                return Qt.CheckState.Unchecked if self.canvas.is_box_hidden(box.id) else Qt.CheckState.Checked
            if col == LOCKED:
                return Qt.CheckState.Checked if self.canvas.is_locked(box.id) else Qt.CheckState.Unchecked
        cat = self._cats.get(box.category_id)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == CLASS:
                return cat.name if cat is not None else f"#{box.category_id}"
            if col == SCORE:
                return f"{box.score:.2f}" if box.score is not None else ""
            if col == SOURCE:
                flags = [w for w, on in (("crowd", box.crowd), ("difficult", box.difficult)) if on]
                return source_text(box) + (f" [{', '.join(flags)}]" if flags else "")
        if role == Qt.ItemDataRole.DecorationRole and col == CLASS and cat is not None:
            return icon("fa5s.square", cat.color)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"box {box.id}: ({box.x1:.0f}, {box.y1:.0f}) – ({box.x2:.0f}, {box.y2:.0f})"
        return None

    def setData(self, index: QModelIndex, value, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if role != Qt.ItemDataRole.CheckStateRole or index.column() not in (SHOWN, LOCKED):
            return False
        on = Qt.CheckState(value) == Qt.CheckState.Checked
        box_id = self._boxes[index.row()].id
        if index.column() == SHOWN:
            self.canvas.set_box_hidden(box_id, not on)
        else:
            self.canvas.set_box_locked(box_id, on)
        self.dataChanged.emit(index, index)
        return True


class ObjectsFeature(QObject):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx.window)
        self.ctx = ctx
        self.model = ObjectsModel(ctx.canvas, self)
        box = QWidget(ctx.window)
        self.view = QTreeView(box)
        self.view.setModel(self.model)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.view.header()
        for col in (SHOWN, LOCKED, SCORE):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        reject = ctx.actions.by_id["reject_image_predictions"]
        self.reject_button = QPushButton(reject.icon(), "Reject all predictions on this image", box)
        self.reject_button.setToolTip(reject.toolTip())
        self.reject_button.clicked.connect(reject.trigger)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.view)
        lay.addWidget(self.reject_button)
        self.dock = QDockWidget("Objects", ctx.window)
        self.dock.setObjectName("dock_objects")
        self.dock.setWidget(box)
        ctx.add_dock(self.dock, Qt.RightDockWidgetArea)
        self._syncing = False

        s, cv = ctx.session, ctx.canvas
        ctx.nav.current_changed.connect(lambda _rec: self.reload())
        ctx.nav.image_ready.connect(lambda _rec, _rgb, _err: self.reload())
        s.boxes_changed.connect(lambda _ids, image_ids, _cause: self._if_current(image_ids))
        s.predictions_changed.connect(lambda image_ids, _model: self._if_current(image_ids))
        s.categories_changed.connect(self.reload)
        s.closed.connect(self.reload)
        cv.selection_changed.connect(self._show_selection)
        self.view.selectionModel().selectionChanged.connect(self._on_rows_selected)

    def _if_current(self, image_ids) -> None:
        cur = self.ctx.nav.current
        if cur is not None and touches(image_ids, cur.id):
            self.reload()

    def reload(self) -> None:
        rec, store = self.ctx.nav.current, self.ctx.nav.store
        if rec is None or store is None:
            self.model.set_boxes([], {})
        else:
            self.model.set_boxes(store.boxes(rec.id), {c.id: c for c in store.categories()})
        self._show_selection(self.ctx.canvas.selected_ids())

    def _show_selection(self, ids) -> None:
        """The canvas selection, mirrored in the rows (without echoing it back)."""
        sel = QItemSelection()
        last = None
        for box_id in ids:
            row = self.model.row_of(box_id)
            if row is not None:
                last = self.model.index(row, CLASS)
                sel.select(self.model.index(row, 0), self.model.index(row, len(HEADERS) - 1))
        self._syncing = True
        try:
            self.view.selectionModel().select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            if last is not None:
                self.view.scrollTo(last)
        finally:
            self._syncing = False

    def _on_rows_selected(self, _selected, _deselected) -> None:
        if self._syncing:
            return
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        self.ctx.canvas.select([self.model.box_id(r) for r in rows])

    def shutdown(self) -> None:
        pass


def install(ctx: AppContext) -> ObjectsFeature:
    return ObjectsFeature(ctx)
