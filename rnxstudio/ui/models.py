"""ActiveModel: the detector that pre-labels, shared by the features that need it.

Pre-labeling loads it and asks it for predictions; the training feature asks which checkpoint is
active and hot-swaps a new one in; the inspector looks at the same model. The model itself lives
on the job engine's model lane (:class:`~rnxstudio.ui.inference.InferenceClient`); this object
holds what the GUI knows about it and says so in its signals.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from rnxstudio.ui.inference import InferenceClient
from rnxstudio.ui.jobs import JobEngine
from rnxstudio.ui.ml_import import import_ml, ml_lock


@dataclass
class ModelChoice:
    """What the user picked: a zoo member (or ``coco:<name>``, a published detectron2 /
    mmdetection file from ``ml.convert.catalog``) or a checkpoint file, a device and the
    inference path (``precision``/``backend``, see ``ml.precision``)."""

    zoo_name: str | None = None
    checkpoint: str | None = None
    device: str = "auto"
    pretrained_backbone: bool = True
    precision: str = "auto"
    backend: str = "auto"

    @property
    def title(self) -> str:
        if self.checkpoint:
            return Path(self.checkpoint).name
        return self.zoo_name or "?"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelChoice | None:
        """A choice saved by :meth:`to_dict` (unknown keys ignored), None if it names nothing."""
        known = {f.name for f in fields(cls)}
        choice = cls(**{k: v for k, v in (d or {}).items() if k in known})
        return choice if choice.zoo_name or choice.checkpoint else None


CATALOG_PREFIX = "coco:"  # ModelChoice.zoo_name of a published detectron2 / mmdetection detector


def build_for_project(choice: ModelChoice, class_names: list[str]):
    """Runs on the model lane: build or load the model through the one resolver."""
    import_ml()
    with ml_lock():
        from rnxstudio.ml.resolve import resolve

    ref = choice.checkpoint or choice.zoo_name or ""
    if ref.startswith(CATALOG_PREFIX):  # a published COCO detector: converted once, then a checkpoint
        with ml_lock():
            from rnxstudio.ml.convert_weights import converted_checkpoint

        ref = str(converted_checkpoint(ref[len(CATALOG_PREFIX):]))
        return resolve(ref)  # its own (COCO) classes: the class-mapping step maps them to the project's
    return resolve(ref, class_names=class_names or ["object"], pretrained_backbone=choice.pretrained_backbone)


def weights_origin(built, choice: ModelChoice | None = None) -> str:
    weights = str(getattr(built, "weights_origin", ""))
    if choice is not None and choice.zoo_name and not choice.checkpoint and weights.startswith("checkpoint"):
        return "shipped"  # a zoo entry whose trained weights come with the app (the demo detector)
    return ("random" if weights == "random" else "fine-tuned" if weights.startswith("checkpoint")
            else "pretrained" if weights else "unknown")


class ActiveModel(QObject):
    loading = Signal(str)  # title of the model being loaded
    changed = Signal(str)  # description of the model now loaded
    built_ready = Signal(object)  # its BuiltModel (for the inspector)
    failed = Signal(str)

    def __init__(self, jobs: JobEngine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = InferenceClient(jobs, parent=self)
        self.choice: ModelChoice | None = None
        self.loaded = False
        self.text = ""
        self.origin = ""
        self.warnings: list[str] = []
        self.path = ""  # the inference path and why (Predictor.describe()), for the status bar
        self._prewarm: threading.Thread | None = None
        self.client.model_ready.connect(self._on_ready)
        self.client.model_failed.connect(self._on_failed)

    # ------------------------------------------------------------------ loading
    def load(self, choice: ModelChoice, class_names: list[str]) -> None:
        """Build/load on the model lane; ``changed`` or ``failed`` follows."""
        self.choice = choice
        self.loaded = False
        self.loading.emit(choice.title)
        names = list(class_names)
        self.client.set_model(lambda: build_for_project(choice, names), choice.device,
                              precision=choice.precision, backend=choice.backend)

    def hot_swap(self, checkpoint: str, class_names: list[str]) -> None:
        """Make a (new) checkpoint the pre-labeling model without restarting anything."""
        old = self.choice or ModelChoice()
        self.load(ModelChoice(checkpoint=checkpoint, device=old.device, precision=old.precision,
                              backend=old.backend), class_names)

    @property
    def active_checkpoint(self) -> str | None:
        return self.choice.checkpoint if self.choice is not None and self.choice.checkpoint else None

    def _on_ready(self, text: str, built) -> None:
        if self.choice is None:  # a predictor handed straight to the client (tests, benchmarks)
            self.loaded, self.text = True, text
            self.changed.emit(text)
            return
        self.loaded = True
        self.origin = weights_origin(built, self.choice)
        if built is not None:
            name = self.choice.zoo_name if self.origin == "shipped" else built.spec.name
            text = f"{name} ({self.origin} weights), {text}"
        self.text = text
        self.warnings = list(getattr(built, "warnings", []) or []) + list(self.client.path_warnings)
        self.path = self.client.path
        self.changed.emit(text)
        if built is not None:
            self.built_ready.emit(built)

    def _on_failed(self, text: str) -> None:
        self.loaded = False
        self.failed.emit(text)

    # ------------------------------------------------------------------ the torch import
    def prewarm(self) -> None:
        """Import the ml stack on a plain thread (it holds the interpreter for seconds): done
        once, early, while the user looks at the first image, not when they pick a model."""
        if "rnxstudio.ml.predict" not in sys.modules and self._prewarm is None:
            self._prewarm = threading.Thread(target=import_ml, daemon=True, name="rnx-ml-prewarm")
            self._prewarm.start()

    def wait_ml_ready(self) -> None:
        """Import the ml stack now (or wait for the background import to finish)."""
        if self._prewarm is not None:
            self._prewarm.join()
        import_ml()

    def shutdown(self) -> None:
        if self._prewarm is not None:  # never leave an import half-done at exit
            self._prewarm.join()
