"""The detector in the loop: model choice, pre-label on arrival, pre-label many, status.

Model code runs only on the job engine's model lane (through ``ctx.models``); this feature hands
its plain-data results to the session as predictions (never touching a person's boxes) and keeps
the status bar honest about what kind of weights are producing them.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSignalBlocker, QTimer, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

from rnxstudio.core.model import ImageStatus
from rnxstudio.ui.context import AppContext
from rnxstudio.ui.jobs import MODEL_LANE
from rnxstudio.ui.model_choice import choice_for_project, remember_choice, remembered_choice
from rnxstudio.ui.models import ModelChoice


class PrelabelController(QObject):
    result = Signal(int)  # image id whose predictions were just stored

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx.window)
        self.ctx = ctx
        self.models = ctx.models
        self.client = ctx.models.client
        self.auto = False
        self._batch_running = False
        self.mapping_dialog = None  # the class-mapping step while it is open
        self._pending: list[tuple[int, object]] = []  # predictions waiting for the mapping
        self._declined: set[tuple[str, ...]] = set()  # class lists the person would not map
        self._model_classes: list[str] = []  # the loaded model's classes, once known

        self.sb_model = QLabel("model: none", ctx.window)
        self.sb_path = QLabel("", ctx.window)  # the inference path and why (Predictor.describe())
        self._remember_next = False
        self.busy = QProgressBar(ctx.window)
        self.busy.setMaximumWidth(160)
        self.busy.setVisible(False)
        self.cancel_button = QPushButton("Cancel", ctx.window)
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.client.cancel_batch)
        for w in (self.sb_model, self.sb_path, self.busy, self.cancel_button):
            ctx.status.add_widget(w)

        m, c = self.models, self.client
        m.loading.connect(lambda title: self.sb_model.setText(f"model: loading {title}…"))
        m.changed.connect(self._on_model_ready)
        m.built_ready.connect(lambda built: self.ensure_mapping(list(getattr(built, "class_names", []) or [])))
        m.failed.connect(self._on_model_failed)
        c.result.connect(lambda _job, image_id, det: self._store_predictions(image_id, det))
        c.failed.connect(lambda _job, _i, msg: ctx.status.message(f"Pre-label failed: {msg}", 10000))
        c.batch_failed.connect(lambda msg: ctx.status.error("Pre-label", msg))
        c.progress.connect(self._on_progress)
        c.batch_item.connect(self._on_batch_item)
        c.batch_finished.connect(self._on_batch_finished)
        ctx.jobs.busy_changed.connect(self._on_busy)
        ctx.nav.image_ready.connect(self._on_image_ready)
        ctx.session.closed.connect(c.cancel_requests)
        ctx.nav.project_opened.connect(self._on_project_opened)
        ctx.actions.handle(prelabel_current=self.prelabel_current, auto_prelabel=self.set_auto,
                           map_classes=self.remap, one_box_per_object=self.set_one_box_per_object)
        # Importing torch holds the interpreter lock for seconds. Do it once, early, while the
        # user is still looking at the first image, instead of when they pick a model.
        QTimer.singleShot(1500, m.prewarm)

    # ---- model ------------------------------------------------------------------------------
    def class_names(self) -> list[str]:
        store = self.ctx.nav.store
        return [c.name for c in store.categories()] if store is not None else []

    def load(self, choice: ModelChoice, *, remember: bool = False) -> None:
        """Build/load on the model lane; the status bar follows. ``remember``: the user chose it,
        so it is the model of the next start once it has loaded."""
        self._remember_next = remember
        self._declined.clear()  # a model loaded again may be mapped again
        self.models.load(choice, self.class_names())

    def remembered(self) -> ModelChoice | None:
        return remembered_choice(self.ctx.settings)

    def set_one_box_per_object(self, on: bool) -> None:
        session = self.ctx.session.session
        if session is not None:
            session.set_one_box_per_object(on)

    def _on_project_opened(self, store) -> None:
        """Show the project's one-box-per-object setting; load the project's preferred model on
        its first open, else the remembered choice."""
        session = self.ctx.session.session
        if session is not None:
            act = self.ctx.actions.by_id["one_box_per_object"]
            with QSignalBlocker(act):  # showing the setting is not changing it (no write to the project)
                act.setChecked(session.one_box_per_object)
        choice = choice_for_project(self.ctx.settings, store)
        if choice is not None and (choice != self.models.choice or not self.models.loaded):
            self.load(choice)

    def _on_model_ready(self, text: str) -> None:
        m = self.models
        warn = " — random weights: its boxes mean nothing until it is fine-tuned" if m.origin == "random" else ""
        if m.warnings:
            warn += " (" + "; ".join(m.warnings) + ")"
        self.sb_model.setText(f"model: {text}")
        self.sb_model.setToolTip(text + warn)
        self.sb_path.setText(m.path)
        self.sb_path.setToolTip("How the model runs here and why (docs/PERFORMANCE.md)")
        if self._remember_next and m.choice is not None:
            remember_choice(self.ctx.settings, m.choice)
        self._remember_next = False
        if warn:
            self.ctx.status.message(f"Loaded {text}{warn}", 15000)
        if self.auto:
            self.prelabel_current()

    def _on_model_failed(self, text: str) -> None:
        self._remember_next = False
        self.sb_model.setText("model: none")
        self.sb_path.setText("")
        self.ctx.status.error("Model", text)

    # ---- single image -------------------------------------------------------------------------
    def set_auto(self, on: bool) -> None:
        self.auto = bool(on)
        if self.auto:
            self.prelabel_current()

    def _on_image_ready(self, rec, rgb, error) -> None:
        if self.auto and self.models.loaded and rgb is not None and rec.status in (
            ImageStatus.UNLABELED, ImageStatus.PREDICTED
        ):
            self.client.request(rec.id, rgb)

    def prelabel_current(self) -> bool:
        nav = self.ctx.nav
        rec = nav.current
        if rec is None:
            return False
        if not self.models.loaded:
            if self.models.choice is None:
                self.ctx.status.error("No model", "Choose a model first (Model → Choose Model…).")
            return False
        rgb = nav.cache.get(rec.id)
        self.client.request(rec.id, rgb if rgb is not None else nav.source_of(rec))
        return True

    def _on_busy(self, lane: str, on: bool) -> None:
        if lane == MODEL_LANE and not self._batch_running:
            self.busy.setVisible(on)
            self.busy.setRange(0, 0)  # indeterminate: "working"

    # ---- model classes -> project classes ------------------------------------------------------
    def _model_name(self) -> str:
        return self.models.choice.title if self.models.choice else ""

    def _model_version(self) -> str | None:
        from rnxstudio.data.classmap import model_identity

        choice = self.models.choice
        return model_identity(choice.checkpoint or choice.zoo_name) if choice is not None else None

    def ensure_mapping(self, model_classes: list[str]):
        """The project's mapping for these model classes, or None while the class-mapping step
        is asked (opened here, once; the predictions that wait for it are stored after)."""
        session = self.ctx.nav.session
        if session is None or not model_classes:
            return None
        self._model_classes = list(model_classes)
        mapping = session.class_mapping(model_classes)
        if mapping is None and self.mapping_dialog is None and tuple(model_classes) not in self._declined:
            self._ask_mapping(model_classes)
        return mapping

    def remap(self) -> None:
        """Model → Map Model Classes…: change the loaded model's mapping."""
        if not self._model_classes or self.ctx.nav.session is None:
            self.ctx.status.message("Load a model and pre-label once: its classes are then known", 6000)
        elif self.mapping_dialog is None:
            self._declined.discard(tuple(self._model_classes))
            self._ask_mapping(self._model_classes)

    def _ask_mapping(self, model_classes: list[str]) -> None:
        from rnxstudio.ui.class_mapping import ClassMappingDialog

        session = self.ctx.nav.session
        dlg = ClassMappingDialog(self.ctx.window, model_name=self._model_name(), model_classes=model_classes,
                                 categories=session.store.categories(),
                                 proposed=session.proposed_mapping(model_classes))
        dlg.finished.connect(lambda result: self._mapping_done(dlg, result))
        self.mapping_dialog = dlg
        dlg.open()

    def _mapping_done(self, dlg, result: int) -> None:
        from PySide6.QtWidgets import QDialog

        self.mapping_dialog = None
        dlg.deleteLater()
        session = self.ctx.nav.session
        pending, self._pending = self._pending, []
        if session is None:
            return
        if result != QDialog.Accepted:
            self._declined.add(tuple(dlg.model_classes))
            self.ctx.status.message("Predictions not stored: the model's classes are not mapped to the "
                                    "project's (Model → Map Model Classes… or load the model again)", 10000)
            return
        mapping = session.set_class_mapping(dlg.model_classes, dlg.choices(), model_name=self._model_name())
        ignored = mapping.ignored()
        if ignored:
            self.ctx.status.message(f"Model classes ignored: {', '.join(ignored[:8])}"
                                    + (" …" if len(ignored) > 8 else ""), 8000)
        for image_id, det in pending:
            self._store_predictions(image_id, det)

    def _store_predictions(self, image_id: int, detections) -> None:
        session = self.ctx.nav.session
        if session is None or detections is None:
            return
        mapping = self.ensure_mapping(list(detections.class_names))
        if mapping is None:
            if self.mapping_dialog is not None:
                self._pending.append((image_id, detections))
            return
        boxes = detections.to_boxes(mapping.category_ids(), image_id=image_id)
        session.set_predictions(image_id, boxes, model_name=self._model_name(), model_version=self._model_version())
        self.result.emit(image_id)

    # ---- many images ----------------------------------------------------------------------------
    def prelabel_many(self, scope: str = "unlabeled", batch_size: int = 1, selected: list[int] | None = None) -> int:
        """Pre-label a set of images in the background; returns how many were queued.
        ``scope``: "unlabeled", "all" (the images listed) or "selected" (``selected`` ids)."""
        nav = self.ctx.nav
        store = nav.store
        if store is None or not self.models.loaded:
            if store is not None:
                self.ctx.status.error("No model", "Choose a model first (Model → Choose Model…).")
            return 0
        if scope == "unlabeled":
            ids = store.image_ids(status=ImageStatus.UNLABELED)
        elif scope == "selected":
            ids = list(selected or [])
        else:
            ids = list(nav.files.ids())
        recs = [r for r in store.images([i for i in ids if i is not None]) if not r.missing]
        if not recs:
            self.ctx.status.message("Nothing to pre-label", 5000)
            return 0
        if not self.client.prelabel_all([(r.id, nav.source_of(r)) for r in recs], batch_size):
            return 0
        self._batch_running = True
        self.busy.setRange(0, len(recs))
        self.busy.setValue(0)
        self.busy.setVisible(True)
        self.cancel_button.setVisible(True)
        return len(recs)

    def _on_progress(self, done: int, total: int, ips: float, eta: float) -> None:
        self.busy.setRange(0, total)
        self.busy.setValue(done)
        eta_text = f", ETA {eta:.0f} s" if eta >= 0 else ""
        self.ctx.status.message(f"Pre-labeling {done}/{total} — {ips:.2f} images/s{eta_text}", 0)

    def _on_batch_item(self, image_id: int, detections, error: str) -> None:
        session = self.ctx.nav.session
        if error:
            if session is not None:
                session.set_image_error(image_id, error)
            return
        self._store_predictions(image_id, detections)

    def _on_batch_finished(self, done: int, total: int, cancelled: bool) -> None:
        self._batch_running = False
        self.busy.setVisible(False)
        self.cancel_button.setVisible(False)
        word = "cancelled" if cancelled else "finished"
        self.ctx.status.message(f"Pre-labeling {word}: {done}/{total} images", 10000)

    def shutdown(self) -> None:
        self.client.cancel_batch()


def install(ctx: AppContext, file_view) -> PrelabelController:
    """``file_view``: the image list, whose selection is the "selected" pre-label scope."""
    from rnxstudio.ui.model_dialog import choose_model, choose_prelabel_scope

    pre = PrelabelController(ctx)

    def selected_ids() -> list[int]:
        rows = sorted({i.row() for i in file_view.selectionModel().selectedIndexes()})
        return [i for i in (ctx.nav.files.id_at(r) for r in rows) if i is not None]

    ctx.actions.handle(choose_model=lambda: choose_model(ctx.window, pre),
                       prelabel_all=lambda: choose_prelabel_scope(ctx.window, pre, selected_ids))
    return pre
