"""The class-mapping step: the first time a model's classes differ from the project's, the
person maps each model class to a project class, to a new class, or to nothing (ignored).
Many model classes may go to one project class. The choice is remembered in the project for
every model with the same class list (:mod:`rnxstudio.data.classmap`) and used by pre-label,
review and eval; nothing adds a model's classes to the project unasked."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from rnxstudio.core.model import Category
from rnxstudio.data.classmap import NEW, Choice


class ClassMappingDialog(QDialog):
    """One row per model class: a combo of Ignore / New class / each project class."""

    def __init__(self, parent: QWidget | None, *, model_name: str, model_classes: Sequence[str],
                 categories: Sequence[Category], proposed: dict[str, Choice]) -> None:
        super().__init__(parent)
        self.setObjectName("class_mapping_dialog")
        self.setWindowTitle("Map the model's classes")
        self.model_classes = list(model_classes)
        intro = QLabel(
            f"The model <b>{model_name or 'loaded'}</b> predicts classes this project does not have. "
            "Choose the project class each one's boxes get, a new class, or Ignore (its boxes are "
            "not shown). Several model classes may go to one project class. The choice is kept in "
            "the project for this model.", self)
        intro.setWordWrap(True)
        body = QWidget(self)
        form = QFormLayout(body)
        self.combos: dict[str, QComboBox] = {}
        for name in self.model_classes:
            combo = QComboBox(body)
            combo.addItem("Ignore", None)
            combo.addItem(f"New class “{name}”", NEW)
            for c in categories:
                combo.addItem(c.name, c.id)
            choice = proposed.get(name)
            combo.setCurrentIndex(max(0, combo.findData(choice) if choice is not None else 0))
            form.addRow(name, combo)
            self.combos[name] = combo
        scroll = QScrollArea(self)
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setMinimumHeight(min(420, 40 + 34 * len(self.model_classes)))
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.button(QDialogButtonBox.Ok).setText("Use this mapping")
        ignore_rest = QPushButton("Ignore unmatched", self)
        ignore_rest.setToolTip("Set every model class still marked “New class” to Ignore")
        ignore_rest.clicked.connect(self.ignore_new)
        buttons.addButton(ignore_rest, QDialogButtonBox.ResetRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(scroll)
        layout.addWidget(buttons)
        self.setWindowModality(Qt.WindowModal)

    def set_choice(self, model_class: str, choice: Choice) -> None:
        combo = self.combos[model_class]
        combo.setCurrentIndex(combo.findData(choice) if choice is not None else 0)

    def ignore_new(self) -> None:
        for combo in self.combos.values():
            if combo.currentData() == NEW:
                combo.setCurrentIndex(0)

    def choices(self) -> dict[str, Choice]:
        return {name: combo.currentData() for name, combo in self.combos.items()}
