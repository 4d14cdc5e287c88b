"""Dialogs of the Model menu: choose a zoo model, a published COCO detector or a checkpoint, a
device and the inference path; import a detectron2 / mmdetection file; pre-label scope."""

from __future__ import annotations

from rnxstudio.ui.ml_import import ml_lock

from pathlib import Path

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

from rnxstudio.ui.models import CATALOG_PREFIX, ModelChoice

PRELABEL_SCOPES = ("unlabeled", "all", "selected")
IMPORT_FILTER = "detectron2 / mmdetection checkpoints (*.pkl *.pth *.pt);;All files (*)"
WEIGHTS_HELP = "docs/adr/0010-converted-coco-models.md"


def zoo_entries() -> list[tuple[str, str, str]]:
    """(name, title, description) of each zoo member. Importing the zoo imports torch, so this
    runs when the dialog opens, never at start-up."""
    with ml_lock():  # the background warm-up may be importing torchvision right now
        from rnxstudio.ml.zoo import MODELS

    return [(m.name, m.title, m.description) for m in MODELS.values()]


def catalog_entries() -> list[tuple[str, str, str, bool]]:
    """(choice name, title, description, available) of each published COCO detector
    (ml.convert.catalog). One that is neither converted nor downloaded says so and how to get it:
    this machine cannot download it now (catalog.WeightsUnavailable when loading), so the
    description is the same instruction that error gives."""
    with ml_lock():
        from rnxstudio.ml.backbones import NO_DOWNLOAD_ENV, downloads_allowed
        with ml_lock():
            from rnxstudio.ml.convert import catalog

    out = []
    for e in catalog.CATALOG.values():
        head = f"COCO box AP {e.box_ap} ({e.framework}), converted to run here exactly ({WEIGHTS_HELP})."
        if catalog.converted_path(e).is_file():
            out.append((CATALOG_PREFIX + e.name, e.title, f"{head} Ready: {catalog.converted_path(e)}", True))
        elif catalog.local_path(e).is_file():
            out.append((CATALOG_PREFIX + e.name, e.title, f"{head} Downloaded; converted when first loaded.", True))
        else:
            why = (f"downloads are off ({NO_DOWNLOAD_ENV}=1)" if not downloads_allowed(None)
                   else "not downloaded yet; loading it tries to download it")
            text = catalog.offline_message(e, why) + " Or use \"Import detectron2 / mmdetection checkpoint…\"."
            out.append((CATALOG_PREFIX + e.name, f"{e.title} — not on this computer", text, False))
    return out


def device_entries() -> list[tuple[str, str]]:
    with ml_lock():
        from rnxstudio.ml.devices import available_devices

    return [("auto", "Automatic (CUDA > MPS > CPU)")] + list(available_devices())


def path_entries(device: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(precision choices, backend choices) for ``device`` ("auto" resolved here), from
    ml.precision (ADR 0011): the dialog offers what the CLI's --precision/--backend offer."""
    with ml_lock():
        from rnxstudio.ml.devices import pick_device
        from rnxstudio.ml.precision import backend_choices, precision_choices

    return precision_choices(pick_device(device)), backend_choices()


class ModelDialog(QDialog):
    """``jobs`` (the job engine) runs "Import detectron2 / mmdetection checkpoint…"; without it
    the button is hidden."""

    def __init__(self, parent: QWidget | None = None, current: ModelChoice | None = None, jobs=None):
        super().__init__(parent)
        self.setWindowTitle("Choose model")
        self.jobs = jobs
        self.import_job = None
        self.imported: str | None = None
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
        self.available: dict[str, bool] = {}
        for name, title, desc, ok in catalog_entries():
            self.zoo.addItem(title, name)
            self.zoo.setItemData(self.zoo.count() - 1, desc, Qt.ToolTipRole)
            self.available[name] = ok
        self.pretrained = QCheckBox("Use ImageNet backbone weights when available (else random init)", self)
        self.pretrained.setChecked(True)
        self.ckpt_path = QLineEdit(self)
        self.ckpt_path.setPlaceholderText(".safetensors, .pth or .pt state dict")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        self.import_button = QPushButton("Import detectron2 / mmdetection checkpoint…", self)
        self.import_button.setToolTip("Convert a detectron2 .pkl or mmdetection .pth Faster R-CNN into an "
                                      f"rnxstudio checkpoint ({WEIGHTS_HELP})")
        self.import_button.clicked.connect(self._ask_import)
        self.import_button.setVisible(jobs is not None)
        self.import_status = QLabel("", self)
        self.import_status.setWordWrap(True)
        self.device = QComboBox(self)
        for dev, label in device_entries():
            self.device.addItem(label, dev)
        self.precision = QComboBox(self)
        self.precision.setToolTip("Number format of the backbone at inference (ADR 0011); Automatic picks "
                                  "what is fastest and passed the accuracy guard on this machine")
        self.backend = QComboBox(self)

        ck_row = QHBoxLayout()
        ck_row.addWidget(self.ckpt_path)
        ck_row.addWidget(browse)
        form = QFormLayout()
        form.addRow(self.zoo_radio, self.zoo)
        form.addRow("", self.description)
        form.addRow("", self.pretrained)
        form.addRow(self.ckpt_radio, ck_row)
        form.addRow("", self.import_button)
        form.addRow("", self.import_status)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.precision)
        form.addRow("Backend", self.backend)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.Ok)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)
        self.zoo_radio.setChecked(True)
        if current is not None:
            if current.checkpoint:
                self.ckpt_radio.setChecked(True)
                self.ckpt_path.setText(current.checkpoint)
            elif current.zoo_name:
                self.zoo.setCurrentIndex(max(0, self.zoo.findData(current.zoo_name)))
            self.pretrained.setChecked(current.pretrained_backbone)
            self.device.setCurrentIndex(max(0, self.device.findData(current.device)))
        self._fill_paths(current)
        self._on_zoo()
        # picking a zoo model (or typing a path) is choosing that kind: connected after the set-up
        self.zoo.currentIndexChanged.connect(self._on_zoo_picked)
        self.ckpt_path.textEdited.connect(lambda _t: self.ckpt_radio.setChecked(True))
        self.device.currentIndexChanged.connect(lambda _i: self._fill_paths(self._path_choice()))
        self.resize(680, 380)

    # ---- choices --------------------------------------------------------------------------
    def _on_zoo_picked(self, *_a) -> None:
        self.zoo_radio.setChecked(True)
        self._on_zoo()

    def _on_zoo(self, *_a) -> None:
        self.description.setText(str(self.zoo.currentData(Qt.ToolTipRole) or ""))

    def _path_choice(self) -> ModelChoice:
        return ModelChoice(precision=str(self.precision.currentData() or "auto"),
                           backend=str(self.backend.currentData() or "auto"))

    def _fill_paths(self, keep: ModelChoice | None) -> None:
        precisions, backends = path_entries(str(self.device.currentData() or "auto"))
        for combo, entries, value in ((self.precision, precisions, keep.precision if keep else "auto"),
                                      (self.backend, backends, keep.backend if keep else "auto")):
            combo.clear()
            for v, label in entries:
                combo.addItem(label, v)
            combo.setCurrentIndex(max(0, combo.findData(value)))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Checkpoint", "",
                                              "Weights (*.safetensors *.pth *.pt);;All files (*)")
        if path:
            self.ckpt_path.setText(path)
            self.ckpt_radio.setChecked(True)

    def choice(self) -> ModelChoice:
        device = self.device.currentData() or "auto"
        path = self._path_choice()
        if self.ckpt_radio.isChecked() and self.ckpt_path.text().strip():
            return ModelChoice(checkpoint=self.ckpt_path.text().strip(), device=device, precision=path.precision,
                               backend=path.backend)
        return ModelChoice(zoo_name=self.zoo.currentData(), device=device, pretrained_backbone=self.pretrained.isChecked(),
                           precision=path.precision, backend=path.backend)

    # ---- import ---------------------------------------------------------------------------
    def _ask_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import detectron2 / mmdetection checkpoint", "", IMPORT_FILTER)
        if path:
            self.start_import(path)

    def start_import(self, path: str) -> None:
        """Convert ``path`` on the job engine (ml.convert_weights.import_weights); on success the
        checkpoint becomes the dialog's choice, on failure the message names the file."""
        from rnxstudio.ui.jobs import MODEL_LANE

        def job(_ctx):
            with ml_lock():
                from rnxstudio.ml.convert_weights import import_weights

            return str(import_weights(path))

        self.import_button.setEnabled(False)
        self.ok_button.setEnabled(False)
        self.import_status.setText(f"Importing {Path(path).name}… (reading, converting and checking every tensor)")
        self.import_job = self.jobs.submit("import_weights", job, lane=MODEL_LANE, priority=5,
                                           on_done=self._imported, on_error=lambda exc: self._import_failed(path, exc))

    def _imported(self, out: str) -> None:
        self.imported = out
        self.import_button.setEnabled(True)
        self.ok_button.setEnabled(True)
        self.ckpt_path.setText(out)
        self.ckpt_radio.setChecked(True)
        self.import_status.setText(f"Imported: {out}")

    def _import_failed(self, path: str, exc: BaseException) -> None:
        with ml_lock():
            from rnxstudio.ml.convert_weights import ConversionError

        self.import_button.setEnabled(True)
        self.ok_button.setEnabled(True)
        if isinstance(exc, ConversionError):
            text = f"Cannot import {exc.path}: {exc.message}"
        else:
            text = f"Cannot import {path}: {type(exc).__name__}: {exc}"
        self.import_status.setText(text)


def choose_model(window, prelabel) -> ModelChoice | None:
    """Ask for a model; ``prelabel`` (the pre-labeling feature) loads it."""
    dlg = ModelDialog(window, prelabel.models.choice or prelabel.remembered(), jobs=prelabel.ctx.jobs)
    if dlg.exec() != QDialog.Accepted:
        return None
    choice = dlg.choice()
    prelabel.load(choice, remember=True)
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
