"""Dialogs of the Model menu: choose a zoo model or checkpoint and a device; pre-label scope."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from rnxstudio.ui.models import ModelChoice

PRELABEL_SCOPES = ("unlabeled", "all", "selected")


def zoo_entries() -> list[tuple[str, str, str]]:
    """(name, title, description) of each zoo member. Importing the zoo imports torch, so this
    runs when the dialog opens, never at start-up."""
    from rnxstudio.ml.zoo import MODELS

    return [(m.name, m.title, m.description) for m in MODELS.values()]


def device_entries() -> list[tuple[str, str]]:
    from rnxstudio.ml.devices import available_devices

    return [("auto", "Automatic (CUDA > MPS > CPU)")] + list(available_devices())


class ModelDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, current: ModelChoice | None = None):
        super().__init__(parent)
        self.setWindowTitle("Choose model")
        self.zoo_radio = QRadioButton("Zoo model", self)
        self.ckpt_radio = QRadioButton("Checkpoint file", self)
        group = QButtonGroup(self)
        group.addButton(self.zoo_radio)
        group.addButton(self.ckpt_radio)
        self.zoo = QComboBox(self)
        self.description = QLabel(self)
        self.description.setWordWrap(True)
        self.description.setTextInteractionFlags(Qt.TextSelectableByMouse)
        for name, title, desc in zoo_entries():
            self.zoo.addItem(title, name)
            self.zoo.setItemData(self.zoo.count() - 1, desc, Qt.ToolTipRole)
        self.pretrained = QCheckBox("Use ImageNet backbone weights when available (else random init)", self)
        self.pretrained.setChecked(True)
        self.ckpt_path = QLineEdit(self)
        self.ckpt_path.setPlaceholderText(".safetensors, .pth or .pt state dict")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        self.device = QComboBox(self)
        for dev, label in device_entries():
            self.device.addItem(label, dev)

        ck_row = QHBoxLayout()
        ck_row.addWidget(self.ckpt_path)
        ck_row.addWidget(browse)
        form = QFormLayout()
        form.addRow(self.zoo_radio, self.zoo)
        form.addRow("", self.description)
        form.addRow("", self.pretrained)
        form.addRow(self.ckpt_radio, ck_row)
        form.addRow("Device", self.device)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)
        self.zoo.currentIndexChanged.connect(self._on_zoo)
        self.zoo_radio.setChecked(True)
        if current is not None:
            if current.checkpoint:
                self.ckpt_radio.setChecked(True)
                self.ckpt_path.setText(current.checkpoint)
            elif current.zoo_name:
                self.zoo.setCurrentIndex(max(0, self.zoo.findData(current.zoo_name)))
            self.device.setCurrentIndex(max(0, self.device.findData(current.device)))
        self._on_zoo()
        self.resize(620, 300)

    def _on_zoo(self, *_a) -> None:
        self.description.setText(str(self.zoo.currentData(Qt.ToolTipRole) or ""))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Checkpoint", "",
                                              "Weights (*.safetensors *.pth *.pt);;All files (*)")
        if path:
            self.ckpt_path.setText(path)
            self.ckpt_radio.setChecked(True)

    def choice(self) -> ModelChoice:
        device = self.device.currentData() or "auto"
        if self.ckpt_radio.isChecked() and self.ckpt_path.text().strip():
            return ModelChoice(checkpoint=self.ckpt_path.text().strip(), device=device)
        return ModelChoice(zoo_name=self.zoo.currentData(), device=device,
                           pretrained_backbone=self.pretrained.isChecked())


def choose_model(window, prelabel) -> ModelChoice | None:
    """Ask for a model; ``prelabel`` (the pre-labeling feature) loads it."""
    dlg = ModelDialog(window, prelabel.models.choice)
    if dlg.exec() != QDialog.Accepted:
        return None
    choice = dlg.choice()
    prelabel.load(choice)
    return choice


class ScopeDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Pre-label")
        self.scope = QComboBox(self)
        labels = {"unlabeled": "Unlabeled images", "all": "All images in the list", "selected": "Selected images"}
        for s in PRELABEL_SCOPES:
            self.scope.addItem(labels[s], s)
        self.batch = QSpinBox(self)
        self.batch.setRange(1, 32)
        self.batch.setValue(1)
        self.batch.setToolTip("Images per forward pass (larger helps on a GPU)")
        form = QFormLayout(self)
        form.addRow("Images", self.scope)
        form.addRow("Batch size", self.batch)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


def choose_prelabel_scope(window, prelabel, selected_ids) -> int:
    """Ask which images; ``selected_ids()`` gives the images selected in the list."""
    if not prelabel.models.loaded:
        prelabel.ctx.status.error("No model", "Choose a model first (Model → Choose Model…).")
        return 0
    dlg = ScopeDialog(window)
    if dlg.exec() != QDialog.Accepted:
        return 0
    scope = dlg.scope.currentData()
    return prelabel.prelabel_many(scope, dlg.batch.value(), selected=selected_ids() if scope == "selected" else None)
