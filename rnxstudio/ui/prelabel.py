"""The detector in the loop: model choice, pre-label on arrival, pre-label many, status.

Model code runs only in the :class:`InferenceWorker`'s thread; this controller turns its
plain-data results into predicted boxes in the store (never touching a person's boxes) and
keeps the status bar honest about what kind of weights are producing them.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

from rnxstudio.core.model import ImageStatus, default_color
from rnxstudio.ui.ml_import import import_ml
from rnxstudio.ui.workers.inference import InferenceWorker

PRELABEL_SCOPES = ("unlabeled", "all", "selected")


@dataclass
class ModelChoice:
    """What the user picked: a zoo member or a checkpoint file, and a device."""

    zoo_name: str | None = None
    checkpoint: str | None = None
    device: str = "auto"
    pretrained_backbone: bool = True

    @property
    def title(self) -> str:
        if self.checkpoint:
            from pathlib import Path

            return Path(self.checkpoint).name
        return self.zoo_name or "?"


def build_for_project(choice: ModelChoice, class_names: list[str]):
    """Runs on the inference thread: build or load the model (imports torch there)."""
    import_ml("rnxstudio.ml.predict", "rnxstudio.ml.zoo", "rnxstudio.ml.checkpoint")
    if choice.checkpoint:
        from rnxstudio.ml.checkpoint import load_checkpoint

        return load_checkpoint(choice.checkpoint)
    from rnxstudio.ml.zoo import build_model

    names = class_names or ["object"]
    return build_model(choice.zoo_name, num_classes=len(names), class_names=names,
                       pretrained_backbone=choice.pretrained_backbone)


class PrelabelController(QObject):
    model_changed = Signal(str)  # human-readable description
    built_ready = Signal(object)  # the BuiltModel now pre-labeling (for the inspector)

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.controller = window.controller
        self.worker = InferenceWorker(parent=self)
        self.worker.start()
        self.choice: ModelChoice | None = None
        self.model_text = ""
        self.model_origin = ""
        self.model_loaded = False
        self.auto = False
        self._batch_running = False
        self._prewarm_thread = None

        sb = window.statusBar()
        self.sb_model = QLabel("model: none", window)
        self.busy = QProgressBar(window)
        self.busy.setMaximumWidth(160)
        self.busy.setVisible(False)
        self.cancel_button = QPushButton("Cancel", window)
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.worker.cancel_batch)
        sb.addPermanentWidget(self.sb_model)
        sb.addPermanentWidget(self.busy)
        sb.addPermanentWidget(self.cancel_button)

        w = self.worker
        w.result.connect(self._on_result)
        w.failed.connect(lambda _r, _i, msg: window.statusBar().showMessage(f"Pre-label failed: {msg}", 10000))
        w.busy.connect(self._on_busy)
        w.model_ready.connect(self._on_model_ready)
        w.model_failed.connect(self._on_model_failed)
        w.progress.connect(self._on_progress)
        w.batch_item.connect(self._on_batch_item)
        w.batch_finished.connect(self._on_batch_finished)
        self.controller.image_ready.connect(self._on_image_ready)
        self.controller.project_closed.connect(self.worker.invalidate)
        window.shutdown_hooks.append(self.shutdown)
        # Importing torch holds the interpreter lock for seconds. Do it once, early, while the
        # user is still looking at the first image, instead of when they pick a model.
        QTimer.singleShot(1500, self._prewarm)

    def _prewarm(self) -> None:
        import sys
        import threading

        if "rnxstudio.ml.predict" not in sys.modules and self._prewarm_thread is None:
            self._prewarm_thread = threading.Thread(target=import_ml, daemon=True, name="rnx-ml-prewarm")
            self._prewarm_thread.start()

    # ---- model ------------------------------------------------------------------------------
    def class_names(self) -> list[str]:
        store = self.controller.store
        return [c.name for c in store.categories()] if store is not None else []

    def load(self, choice: ModelChoice) -> None:
        """Build/load on the worker thread; ``model_ready`` or ``model_failed`` follows."""
        self.choice = choice
        self.model_loaded = False
        self.sb_model.setText(f"model: loading {choice.title}…")
        names = self.class_names()
        built_box: dict = {}
        self._built_box = built_box

        def factory():  # runs on the inference thread
            built_box["built"] = build_for_project(choice, names)
            return built_box["built"]

        self.worker.set_model(factory, choice.device)

    def _on_model_ready(self, text: str) -> None:
        self.model_loaded = True
        built = getattr(self, "_built_box", {}).get("built")
        weights = str(getattr(built, "weights_origin", ""))
        origin = ("random" if weights == "random" else "fine-tuned" if weights.startswith("checkpoint")
                  else "pretrained" if weights else "unknown")
        if built is not None:
            text = f"{built.spec.name} ({origin} weights), {text}"
        self.model_text = text
        self.model_origin = origin
        warn = " — random weights: its boxes mean nothing until it is fine-tuned" if origin == "random" else ""
        if built is not None and built.warnings:
            warn += " (" + "; ".join(built.warnings) + ")"
        self.sb_model.setText(f"model: {text}")
        self.sb_model.setToolTip(text + warn)
        if warn:
            self.w.statusBar().showMessage(f"Loaded {text}{warn}", 15000)
        self.model_changed.emit(text)
        if built is not None:
            self.built_ready.emit(built)
        if self.auto:
            self.prelabel_current()

    def _on_model_failed(self, text: str) -> None:
        self.model_loaded = False
        self.sb_model.setText("model: none")
        self.w.show_error("Model", text)

    def hot_swap(self, checkpoint: str) -> None:
        """Make a (new) checkpoint the pre-labeling model without restarting anything."""
        device = self.choice.device if self.choice else "auto"
        self.load(ModelChoice(checkpoint=checkpoint, device=device))

    # ---- single image -------------------------------------------------------------------------
    def set_auto(self, on: bool) -> None:
        self.auto = bool(on)
        if self.auto:
            self.prelabel_current()

    def _on_image_ready(self, rec, rgb, error) -> None:
        if self.auto and self.model_loaded and rgb is not None and rec.status in (
            ImageStatus.UNLABELED, ImageStatus.PREDICTED
        ):
            self.worker.request(rec.id, rgb)

    def prelabel_current(self) -> bool:
        rec = self.controller.current
        if rec is None:
            return False
        if not self.model_loaded:
            if self.choice is None:
                self.w.show_error("No model", "Choose a model first (Model → Choose Model…).")
            return False
        rgb = self.controller.cache.get(rec.id)
        self.worker.request(rec.id, rgb if rgb is not None else self.controller.source_of(rec))
        return True

    def _on_busy(self, on: bool) -> None:
        if not self._batch_running:
            self.busy.setVisible(on)
            self.busy.setRange(0, 0)  # indeterminate: "working"

    def _on_result(self, _rid: int, image_id: int, detections) -> None:
        self._store_predictions(image_id, detections)

    def _category_ids(self, class_names: list[str]) -> list[int]:
        """Project category id for each model class, adding classes the project lacks."""
        store = self.controller.store
        ids = []
        added = []
        for name in class_names:
            cat = store.category_by_name(name)
            if cat is None:
                cat = store.add_category(name, color=default_color(len(store.categories())))
                added.append(name)
            ids.append(cat.id)
        if added:
            editing = getattr(self.w, "editing", None)
            if editing is not None:
                editing.panel.set_categories(store.categories(), current=editing.panel.current_id())
            self.w.statusBar().showMessage(f"Added model classes to the project: {', '.join(added)}", 8000)
        return ids

    def _store_predictions(self, image_id: int, detections) -> None:
        store = self.controller.store
        if store is None or detections is None:
            return
        boxes = detections.to_boxes(self._category_ids(detections.class_names), image_id=image_id)
        store.set_predictions(image_id, boxes, model_name=self.choice.title if self.choice else "")
        self.controller.files.invalidate(image_id)
        cur = self.controller.current
        if cur is not None and cur.id == image_id:
            self.controller.refresh_current()
            editing = getattr(self.w, "editing", None)
            if editing is not None:
                editing.reload_boxes()

    # ---- many images ----------------------------------------------------------------------------
    def prelabel_many(self, scope: str = "unlabeled", batch_size: int = 1) -> int:
        """Pre-label a set of images in the background; returns how many were queued."""
        store = self.controller.store
        if store is None or not self.model_loaded:
            if store is not None:
                self.w.show_error("No model", "Choose a model first (Model → Choose Model…).")
            return 0
        if scope == "unlabeled":
            ids = store.image_ids(status=ImageStatus.UNLABELED)
        elif scope == "selected":
            rows = sorted({i.row() for i in self.w.file_view.selectionModel().selectedIndexes()})
            ids = [self.controller.files.id_at(r) for r in rows]
        else:
            ids = list(self.controller.files.ids())
        recs = [r for r in store.images([i for i in ids if i is not None]) if not r.missing]
        if not recs:
            self.w.statusBar().showMessage("Nothing to pre-label", 5000)
            return 0
        self._batch_running = True
        self.busy.setRange(0, len(recs))
        self.busy.setValue(0)
        self.busy.setVisible(True)
        self.cancel_button.setVisible(True)
        self.worker.prelabel_all([(r.id, self.controller.source_of(r)) for r in recs], batch_size)
        return len(recs)

    def _on_progress(self, done: int, total: int, ips: float, eta: float) -> None:
        self.busy.setRange(0, total)
        self.busy.setValue(done)
        eta_text = f", ETA {eta:.0f} s" if eta >= 0 else ""
        self.w.statusBar().showMessage(f"Pre-labeling {done}/{total} — {ips:.2f} images/s{eta_text}")

    def _on_batch_item(self, image_id: int, detections, error: str) -> None:
        if error:
            store = self.controller.store
            if store is not None:
                store.set_image_error(image_id, error)
                self.controller.files.invalidate(image_id)
            return
        self._store_predictions(image_id, detections)

    def _on_batch_finished(self, done: int, total: int, cancelled: bool) -> None:
        self._batch_running = False
        self.busy.setVisible(False)
        self.cancel_button.setVisible(False)
        word = "cancelled" if cancelled else "finished"
        self.w.statusBar().showMessage(f"Pre-labeling {word}: {done}/{total} images", 10000)

    def wait_ml_ready(self) -> None:
        """Import the ml stack now (or wait for the background import to finish)."""
        if self._prewarm_thread is not None:
            self._prewarm_thread.join()
        import_ml()

    def shutdown(self) -> None:
        self.worker.shutdown()
        if self._prewarm_thread is not None:  # never leave an import half-done at exit
            self._prewarm_thread.join()


def install(window) -> None:
    from rnxstudio.ui.model_dialog import choose_model, choose_prelabel_scope

    pre = PrelabelController(window)
    window.prelabel = pre
    h = window.handlers
    h["choose_model"] = lambda: choose_model(window, pre)
    h["prelabel_current"] = pre.prelabel_current
    h["prelabel_all"] = lambda: choose_prelabel_scope(window, pre)
    h["auto_prelabel"] = pre.set_auto
