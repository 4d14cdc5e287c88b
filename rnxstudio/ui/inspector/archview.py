"""ArchTableView: the architecture table (sortable, copy, export CSV/Markdown, compare mode)."""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from rnxstudio.ml.introspect import archformat as af
from rnxstudio.ui.ml_import import ml_lock

LOADED = "(loaded model)"
NONE = "(none)"
_NUM = re.compile(r"^[+-]?\d+(\.\d+)?%?$")
DIFF_BG = QColor(255, 226, 150)


class ArchTableModel(QAbstractTableModel):
    """Read-only model over an :class:`archformat.Grid`; differing cells get a highlight."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.grid = af.Grid("", [], [])

    def set_grid(self, grid: af.Grid) -> None:
        self.beginResetModel()
        self.grid = grid
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.grid.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.grid.headers)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        text = self.grid.rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == Qt.ItemDataRole.UserRole:  # sort key: numbers as numbers
            t = text.rstrip("%")
            return float(t) if _NUM.match(text) else (float("inf") if not text else text)
        if role == Qt.ItemDataRole.BackgroundRole and (index.row(), index.column()) in self.grid.highlight:
            return DIFF_BG
        if role == Qt.ItemDataRole.ForegroundRole and (index.row(), index.column()) in self.grid.highlight:
            return QColor(0, 0, 0)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            left = index.column() == 0
            return int((Qt.AlignmentFlag.AlignLeft if left else Qt.AlignmentFlag.AlignRight) | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.grid.headers[section] if section < len(self.grid.headers) else None
        return None


class _SortProxy(QSortFilterProxyModel):
    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:  # noqa: N802
        a = left.data(Qt.ItemDataRole.UserRole)
        b = right.data(Qt.ItemDataRole.UserRole)
        if isinstance(a, float) and isinstance(b, float):
            return a < b
        return str(a) < str(b)


def parse_hw(text: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX*,]\s*(\d+))?\s*", text or "")
    if not m:
        return None
    h = int(m.group(1))
    w = int(m.group(2)) if m.group(2) else h
    return (h, w) if 16 <= h <= 8192 and 16 <= w <= 8192 else None


class ArchTableView(QWidget):
    """Table + controls. Emits :attr:`table_requested` (model name or None for the loaded
    model, compare name or None, (h, w), trunk); feed the answer to :meth:`set_result`."""

    table_requested = Signal(object, object, object, bool)

    def __init__(self, model_names: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if model_names is None:
            with ml_lock():  # a worker may be importing the ml stack right now
                from rnxstudio.ml.zoo import MODELS

            model_names = list(MODELS)
        self.model_combo = QComboBox()
        self.model_combo.addItems([LOADED, *model_names])
        self.compare_combo = QComboBox()
        self.compare_combo.addItems([NONE, *model_names])
        self.compare_combo.setToolTip("compare mode: pick a second zoo model")
        self.trunk_box = QCheckBox("trunk only")
        self.trunk_box.setToolTip("classifier trunk at the given size (the ResNeXt paper's table uses 224)")
        self.size_edit = QLineEdit("800x1067")
        self.size_edit.setMaximumWidth(90)
        self.size_edit.setToolTip("input image size HEIGHTxWIDTH (the model's own resize is applied)")
        self.refresh_button = QPushButton("Compute")
        self.copy_button = QPushButton("Copy")
        self.csv_button = QPushButton("Export CSV…")
        self.md_button = QPushButton("Export Markdown…")
        bar = QHBoxLayout()
        for w in (QLabel("model"), self.model_combo, QLabel("vs"), self.compare_combo, self.trunk_box,
                  QLabel("input"), self.size_edit, self.refresh_button):
            bar.addWidget(w)
        bar.addStretch(1)
        for w in (self.copy_button, self.csv_button, self.md_button):
            bar.addWidget(w)
        self.model = ArchTableModel(self)
        self.proxy = _SortProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # source order until a header click
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.status = QLabel()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.notes)
        lay.addWidget(self.status)
        self.refresh_button.clicked.connect(self.request)
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        self.csv_button.clicked.connect(lambda: self._export_dialog("csv"))
        self.md_button.clicked.connect(lambda: self._export_dialog("markdown"))
        QShortcut(QKeySequence.StandardKey.Copy, self.table, activated=self.copy_to_clipboard)

    # ------------------------------------------------------------ requests
    def set_input_size(self, hw: tuple[int, int]) -> None:
        """Fill in the current image's size (the panel calls this on a new inspection)."""
        self.size_edit.setText(f"{int(hw[0])}x{int(hw[1])}")

    def request(self) -> None:
        hw = parse_hw(self.size_edit.text())
        if hw is None:
            self.status.setText(f"input size {self.size_edit.text()!r}: expected HEIGHTxWIDTH, 16..8192 px")
            return
        name = self.model_combo.currentText()
        other = self.compare_combo.currentText()
        trunk = self.trunk_box.isChecked()
        if trunk and name == LOADED:
            self.status.setText("trunk mode needs a zoo model name")
            return
        self.status.setText("computing…")
        self.table_requested.emit(None if name == LOADED else name, None if other == NONE else other, hw, trunk)

    def set_result(self, result: Any) -> None:
        """Show an ArchResult (from the worker) or a ready :class:`archformat.Grid`."""
        grid = result if isinstance(result, af.Grid) else result.grid
        self.model.set_grid(grid)
        self.proxy.sort(-1)
        self.notes.setText("\n".join(grid.notes))
        self.status.setText(grid.title)

    def show_error(self, message: str) -> None:
        self.status.setText(message)

    # ------------------------------------------------------------ output
    def grid(self) -> af.Grid:
        """The table as shown (current sort order)."""
        g = self.model.grid
        order = [self.proxy.mapToSource(self.proxy.index(r, 0)).row() for r in range(self.proxy.rowCount())]
        rows = [g.rows[i] for i in order]
        hl = {(order.index(r), c) for r, c in g.highlight if r in order}
        return af.Grid(g.title, g.headers, rows, hl, g.notes)

    def selection_text(self) -> str:
        """Tab-separated text of the selected cells, or of the whole table when none are selected."""
        sel = self.table.selectionModel().selectedIndexes() if self.table.selectionModel() else []
        if not sel:
            g = self.grid()
            return "\n".join("\t".join(r) for r in [g.headers, *g.rows]) + "\n"
        rows = sorted({i.row() for i in sel})
        cols = sorted({i.column() for i in sel})
        chosen = {(i.row(), i.column()) for i in sel}
        lines = ["\t".join(self.proxy.headerData(c, Qt.Orientation.Horizontal) or "" for c in cols)]
        for r in rows:
            lines.append("\t".join(self.proxy.index(r, c).data() if (r, c) in chosen else "" for c in cols))
        return "\n".join(lines) + "\n"

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.selection_text())
        self.status.setText("copied to the clipboard")

    def export(self, path: str, fmt: str) -> None:
        """Write the table as ``fmt`` (csv | markdown) atomically; OSError propagates."""
        from rnxstudio.data.atomic import atomic_write_text

        atomic_write_text(path, af.render(self.grid(), fmt))

    def _export_dialog(self, fmt: str) -> None:
        suffix = {"csv": "CSV (*.csv)", "markdown": "Markdown (*.md)"}[fmt]
        path, _ = QFileDialog.getSaveFileName(self, "Export architecture table", "", suffix)
        if not path:
            return
        try:
            self.export(path, fmt)
        except OSError as exc:
            self.status.setText(f"{path}: cannot write ({exc.strerror or exc})")
            return
        self.status.setText(f"wrote {path}")
