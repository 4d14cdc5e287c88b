"""The Classes dock (current class; add, rename, merge, delete a class; keys 1–9) and the quick
class picker. The panel only asks; :mod:`rnxstudio.ui.classes` turns requests into undoable edits."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QMessageBox,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from rnxstudio.core.model import Category

CategoryIdRole = Qt.UserRole + 1


def swatch(color: str, size: int = 14) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(QColor(color))
    return QIcon(pm)


def category_model(categories: list[Category], parent=None) -> QStandardItemModel:
    model = QStandardItemModel(parent)
    for i, cat in enumerate(categories):
        key = f"  [{i + 1}]" if i < 9 else ""
        item = QStandardItem(swatch(cat.color), f"{cat.name}{key}")
        item.setData(cat.id, CategoryIdRole)
        item.setData(cat.name, Qt.UserRole + 2)
        item.setEditable(False)
        model.appendRow(item)
    return model


class ClassPanel(QWidget):
    """List of classes; the selected one is the class new boxes get."""

    current_changed = Signal(object)  # category id | None
    add_requested = Signal(str)  # new class name
    rename_requested = Signal(int, str)  # category id, new name
    merge_requested = Signal(int, int)  # category id, the class that absorbs it
    delete_requested = Signal(int)  # category id
    score_changed = Signal(float)  # confidence threshold for predicted boxes, 0..1
    opacity_changed = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._categories: list[Category] = []
        self.view = QListView(self)
        self.view.setEditTriggers(QListView.NoEditTriggers)
        self.add_button = QPushButton("Add class…", self)
        self.add_button.clicked.connect(self._ask_new_class)
        self.rename_button = QPushButton("Rename…", self)
        self.rename_button.setToolTip("Rename the selected class (undoable)")
        self.rename_button.clicked.connect(self._ask_rename)
        self.merge_button = QPushButton("Merge into…", self)
        self.merge_button.setToolTip("Give every box of the selected class another class, then remove it (undoable)")
        self.merge_button.clicked.connect(self._ask_merge)
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.setToolTip("Delete the selected class and its boxes (undoable)")
        self.delete_button.clicked.connect(self._ask_delete)
        self.score = QSlider(Qt.Horizontal, self)
        self.score.setRange(0, 100)
        self.score.setValue(50)
        self.score.setToolTip("Hide predicted boxes scoring below this confidence")
        self.score_label = QLabel(self)
        self.opacity = QSlider(Qt.Horizontal, self)
        self.opacity.setRange(10, 100)
        self.opacity.setValue(100)
        self.opacity.setToolTip("Box opacity")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.view)
        edit_row = QHBoxLayout()
        for b in (self.add_button, self.rename_button, self.merge_button, self.delete_button):
            edit_row.addWidget(b)
        lay.addLayout(edit_row)
        row = QHBoxLayout()
        row.addWidget(QLabel("Confidence", self))
        row.addWidget(self.score)
        row.addWidget(self.score_label)
        lay.addLayout(row)
        row2 = QHBoxLayout()
        row2.addWidget(QLabel("Opacity", self))
        row2.addWidget(self.opacity)
        lay.addLayout(row2)
        self.score.valueChanged.connect(self._on_score)
        self.opacity.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100.0))
        self._on_score(self.score.value())

    @property
    def threshold(self) -> float:
        return self.score.value() / 100.0

    def _on_score(self, value: int) -> None:
        self.score_label.setText(f"{value / 100:.2f}")
        self.score_changed.emit(value / 100.0)

    def set_categories(self, categories: list[Category], current: int | None = None) -> None:
        self._categories = list(categories)
        self.view.setModel(category_model(self._categories, self))
        self.view.selectionModel().currentChanged.connect(self._on_current)
        ids = [c.id for c in self._categories]
        if current in ids:
            self.select_id(current)
        elif ids:
            self.select_id(ids[0])
        else:
            self.current_changed.emit(None)

    def categories(self) -> list[Category]:
        return list(self._categories)

    def current_id(self) -> int | None:
        idx = self.view.currentIndex()
        return idx.data(CategoryIdRole) if idx.isValid() else None

    def select_id(self, category_id: int) -> None:
        model = self.view.model()
        for row in range(model.rowCount()):
            idx = model.index(row, 0)
            if idx.data(CategoryIdRole) == category_id:
                self.view.setCurrentIndex(idx)
                self.current_changed.emit(category_id)
                return

    def select_number(self, n: int) -> bool:
        """Keys 1–9: pick the n-th class (1-based)."""
        if 1 <= n <= len(self._categories):
            self.select_id(self._categories[n - 1].id)
            return True
        return False

    def _on_current(self, index, _previous) -> None:
        self.current_changed.emit(index.data(CategoryIdRole) if index.isValid() else None)

    def _ask_new_class(self) -> None:
        name, ok = QInputDialog.getText(self, "Add class", "Class name:")
        if ok and name.strip():
            self.add_requested.emit(name.strip())

    def _selected(self) -> Category | None:
        cid = self.current_id()
        return next((c for c in self._categories if c.id == cid), None)

    def _ask_rename(self) -> None:
        cat = self._selected()
        if cat is None:
            return
        name, ok = QInputDialog.getText(self, "Rename class", f"New name for '{cat.name}':", text=cat.name)
        if ok and name.strip() and name.strip() != cat.name:
            self.rename_requested.emit(cat.id, name.strip())

    def _ask_merge(self) -> None:
        cat = self._selected()
        others = [c for c in self._categories if cat is not None and c.id != cat.id]
        if not others:
            return
        picker = ClassPicker(others, self)
        picker.setWindowTitle(f"Merge '{cat.name}' into…")
        if picker.exec() == QDialog.Accepted and picker.chosen_id() is not None:
            self.merge_requested.emit(cat.id, picker.chosen_id())

    def _ask_delete(self) -> None:
        cat = self._selected()
        if cat is None:
            return
        answer = QMessageBox.question(self, "Delete class", f"Delete the class '{cat.name}' and all its boxes?\n"
                                      "(Edit → Undo brings them back.)")
        if answer == QMessageBox.Yes:
            self.delete_requested.emit(cat.id)


class ClassPicker(QDialog):
    """Type to filter, Enter to pick (the quick class picker)."""

    def __init__(self, categories: list[Category], parent=None, current: int | None = None):
        super().__init__(parent)
        self.setWindowTitle("Change class")
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Type to filter…")
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(category_model(categories, self))
        self.proxy.setFilterCaseSensitivity(Qt.CaseInsensitive)
        self.proxy.setFilterRole(Qt.UserRole + 2)
        self.list = QListView(self)
        self.list.setModel(self.proxy)
        lay = QVBoxLayout(self)
        lay.addWidget(self.filter)
        lay.addWidget(self.list)
        self.filter.textChanged.connect(self._on_filter)
        self.filter.returnPressed.connect(self.accept)
        self.list.doubleClicked.connect(lambda _i: self.accept())
        self._select_first(current)

    def _on_filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)
        self._select_first(None)

    def _select_first(self, current: int | None) -> None:
        for row in range(self.proxy.rowCount()):
            idx = self.proxy.index(row, 0)
            if current is None or idx.data(CategoryIdRole) == current:
                self.list.setCurrentIndex(idx)
                return

    def chosen_id(self) -> int | None:
        idx = self.list.currentIndex()
        return idx.data(CategoryIdRole) if idx.isValid() else None
