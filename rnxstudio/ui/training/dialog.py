"""The Fine-tune dialog: base model, classes, trainable stages, image size, length, batch, lr,
which images — and a measured time-per-epoch estimate before anything starts."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from rnxstudio.ui.ml_import import ml_lock
from rnxstudio.ui.training.options import FinetuneOptions, default_lr

SELECTION_LABELS = {"verified": "Verified images only", "labelled": "All images with manual/accepted boxes",
                    "corrected": "Corrected images only (a box drawn or edited, or a prediction rejected)"}


class FinetuneDialog(QDialog):
    """Collects :class:`FinetuneOptions`. ``estimate_requested`` asks the controller to time a
    couple of real training steps with the current choices; it answers via :meth:`show_estimate`."""

    estimate_requested = Signal(object)  # FinetuneOptions

    def __init__(self, parent: QWidget | None, *, defaults: FinetuneOptions, zoo: list[tuple[str, str]],
                 active_checkpoint: str | None, class_names: list[str], counts: dict[str, int],
                 devices: list[tuple[str, str]], checkpoints: list[tuple[str, str]] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Fine-tune")
        self._lr_device = defaults.device
        self.base = QComboBox(self)
        if active_checkpoint:
            self.base.addItem(f"Active checkpoint: {active_checkpoint}", active_checkpoint)
        for label, path in checkpoints or []:  # finished runs of this project: fine-tune on from them
            if path != active_checkpoint:
                self.base.addItem(label, path)
                self.base.setItemData(self.base.count() - 1, path, Qt.ToolTipRole)
        for name, title in zoo:
            self.base.addItem(title, name)
        idx = self.base.findData(defaults.base)
        self.base.setCurrentIndex(0 if active_checkpoint else max(0, idx))
        self.pretrained = QCheckBox("ImageNet backbone weights when available (else random init)", self)
        self.pretrained.setChecked(defaults.pretrained_backbone)
        self.classes = QLabel(", ".join(class_names) or "(the project has no classes)", self)
        self.classes.setWordWrap(True)
        self.classes.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.selection = QComboBox(self)
        for key, label in SELECTION_LABELS.items():
            n = counts.get(key)
            self.selection.addItem(f"{label} ({n})" if n is not None else label, key)
        self.selection.setCurrentIndex(max(0, self.selection.findData(defaults.selection)))
        self.stages = QSpinBox(self)
        self.stages.setRange(0, 5)
        self.stages.setValue(defaults.trainable_layers)
        self.stages.setToolTip("Backbone stages to train (0 = heads only, 5 = everything); fewer is faster")
        self.size = QSpinBox(self)
        self.size.setRange(32, 2048)
        self.size.setSingleStep(32)
        self.size.setValue(defaults.size)
        self.size.setSuffix(" px")
        self.size.setToolTip("Shorter image side during training and evaluation")
        self.by_epochs = QRadioButton("Epochs", self)
        self.by_minutes = QRadioButton("Minutes", self)
        self.epochs = QSpinBox(self)
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(defaults.epochs or 12)
        self.minutes = QDoubleSpinBox(self)
        self.minutes.setRange(0.1, 10000)
        self.minutes.setValue(defaults.minutes or 10.0)
        (self.by_minutes if defaults.minutes else self.by_epochs).setChecked(True)
        self.batch = QSpinBox(self)
        self.batch.setRange(1, 256)
        self.batch.setValue(defaults.batch_size)
        self.lr = QDoubleSpinBox(self)
        self.lr.setDecimals(6)
        self.lr.setRange(0.0, 1.0)
        self.lr.setSingleStep(0.0001)
        self.lr.setSpecialValueText("device default")
        self.lr.setValue(defaults.lr or 0.0)
        self.lr_hint = QLabel(self)
        self.device = QComboBox(self)
        for dev, label in devices:
            self.device.addItem(label, dev)
        self.device.setCurrentIndex(max(0, self.device.findData(defaults.device)))
        self.estimate_button = QPushButton("Estimate time per epoch", self)
        self.estimate_label = QLabel("Not measured yet: the estimate times two real training steps.", self)
        self.estimate_label.setWordWrap(True)
        self._max_steps = defaults.max_steps
        self._extra = dict(defaults.extra)
        self._val_split = defaults.val_split

        length = QHBoxLayout()
        for w in (self.by_epochs, self.epochs, self.by_minutes, self.minutes):
            length.addWidget(w)
        lr_row = QHBoxLayout()
        lr_row.addWidget(self.lr)
        lr_row.addWidget(self.lr_hint)
        form = QFormLayout()
        form.addRow("Base model", self.base)
        form.addRow("", self.pretrained)
        form.addRow("Classes", self.classes)
        form.addRow("Images", self.selection)
        form.addRow("Trainable stages", self.stages)
        form.addRow("Image size", self.size)
        form.addRow("Length", length)
        form.addRow("Batch size", self.batch)
        form.addRow("Learning rate", lr_row)
        form.addRow("Device", self.device)
        est = QHBoxLayout()
        est.addWidget(self.estimate_button)
        est.addWidget(self.estimate_label, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Cancel, self)
        self.start_button = buttons.addButton("Start", QDialogButtonBox.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(est)
        lay.addWidget(buttons)
        self.batch.valueChanged.connect(self._update_lr_hint)
        self.device.currentIndexChanged.connect(self._update_lr_hint)
        self.pretrained.toggled.connect(self._update_lr_hint)
        self.estimate_button.clicked.connect(lambda: self.estimate_requested.emit(self.options()))
        self._update_lr_hint()
        self.resize(640, 460)

    def _update_lr_hint(self, *_a) -> None:
        device = self.device.currentData() or "cpu"
        try:
            with ml_lock():  # a worker may be importing the ml stack right now
                from rnxstudio.ml.train_state import resolve_device

            device = str(resolve_device(device))
        except Exception:  # noqa: BLE001 - a device that cannot be resolved falls back to CPU defaults
            device = "cpu"
        lr = default_lr(device, self.batch.value(), pretrained=self.pretrained.isChecked())
        self.lr_hint.setText(f"default for {device}, batch {self.batch.value()}: {lr:.3g}")

    def options(self) -> FinetuneOptions:
        by_min = self.by_minutes.isChecked()
        return FinetuneOptions(
            base=str(self.base.currentData()), selection=str(self.selection.currentData()),
            trainable_layers=self.stages.value(), size=self.size.value(), max_size=None,  # 5/3 of size
            epochs=None if by_min else self.epochs.value(), minutes=self.minutes.value() if by_min else None,
            max_steps=self._max_steps, batch_size=self.batch.value(), lr=self.lr.value() or None,
            device=str(self.device.currentData() or "auto"), pretrained_backbone=self.pretrained.isChecked(),
            val_split=self._val_split, extra=dict(self._extra))

    def set_estimating(self, on: bool) -> None:
        self.estimate_button.setEnabled(not on)
        self.start_button.setEnabled(not on)  # one job at a time on the training thread
        if on:
            self.estimate_label.setText("Timing two training steps on this device…")

    def show_estimate(self, text: str) -> None:
        self.set_estimating(False)
        self.estimate_label.setText(text)


class CompareDialog(QDialog):
    """Two zoo models, one budget: what Compare Backbones trains."""

    def __init__(self, parent: QWidget | None, *, zoo: list[tuple[str, str]], defaults: FinetuneOptions,
                 first: str = "resnet50_fpn", second: str = "resnext50_32x4d_fpn"):
        super().__init__(parent)
        self.setWindowTitle("Compare backbones")
        self._defaults = defaults
        self.first = QComboBox(self)
        self.second = QComboBox(self)
        for combo, pick in ((self.first, first), (self.second, second)):
            for name, title in zoo:
                combo.addItem(title, name)
            combo.setCurrentIndex(max(0, combo.findData(pick)))
        self.minutes = QDoubleSpinBox(self)
        self.minutes.setRange(0.1, 10000)
        self.minutes.setValue(defaults.minutes or 10.0)
        self.minutes.setSuffix(" min each")
        self.size = QSpinBox(self)
        self.size.setRange(32, 2048)
        self.size.setSingleStep(32)
        self.size.setValue(defaults.size)
        self.size.setSuffix(" px")
        self.selection = QComboBox(self)
        for key, label in SELECTION_LABELS.items():
            self.selection.addItem(label, key)
        form = QFormLayout(self)
        form.addRow("Model A", self.first)
        form.addRow("Model B", self.second)
        form.addRow("Budget", self.minutes)
        form.addRow("Image size", self.size)
        form.addRow("Images", self.selection)
        note = QLabel("Both train on the same snapshot, split, image size, batch and time budget; the table "
                      "shows their COCO metrics on the val split.", self)
        note.setWordWrap(True)
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def names(self) -> list[str]:
        return [str(self.first.currentData()), str(self.second.currentData())]

    def options(self) -> FinetuneOptions:
        from dataclasses import replace

        return replace(self._defaults, epochs=None, minutes=self.minutes.value(), size=self.size.value(), max_size=None,
                       selection=str(self.selection.currentData()))
