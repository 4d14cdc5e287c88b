"""Fine-tuning in the app: snapshot → run record → training on the train lane → checkpoints
recorded in the project → before/after table → one click to pre-label with the new model.

Every project write (the run, its status and metrics, each best checkpoint) goes through the
session on the GUI thread; the jobs (:mod:`rnxstudio.ui.training.jobs`) only relay plain data.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from rnxstudio.core.model import ImageStatus
from rnxstudio.ui.context import AppContext
from rnxstudio.ui.jobs import TRAIN_LANE, JobContext
from rnxstudio.ui.ml_import import ml_lock
from rnxstudio.ui.training.before_after import BeforeAfterMixin
from rnxstudio.ui.training.compare_runs import CompareMixin
from rnxstudio.ui.training.jobs import finetune_items, import_trainer
from rnxstudio.ui.training.options import FinetuneOptions, recommended_options
from rnxstudio.ui.training import runs as run_list
from rnxstudio.ui.training.panel import TrainingPanel

log = logging.getLogger(__name__)
TITLES = {"train": "Fine-tuning failed", "evaluate": "Evaluation failed", "compare": "Comparison failed"}


@dataclass
class RunState:
    """The run the panel shows."""

    run_id: int
    run_dir: Path
    cfg: Any  # TrainConfig
    options: FinetuneOptions
    snapshot: Any  # data.snapshot.Snapshot
    session: Any  # the ProjectSession the run belongs to
    status: str = "running"
    resume_from: str | None = None
    final: str | None = None
    model_id: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] | None = None


class TrainingController(QObject, BeforeAfterMixin, CompareMixin):
    run_started = Signal(int)  # run id
    run_finished = Signal(str)  # best checkpoint
    run_cancelled = Signal(str)  # resumable checkpoint
    run_failed = Signal(str)
    progress = Signal(str, object)  # job kind, Progress record (compare: (label, record))
    results_ready = Signal(object)  # ResultsDialog (before/after)
    estimate_ready = Signal(object)  # EpochEstimate
    compare_ready = Signal(object)  # ResultsDialog (backbones)

    def __init__(self, ctx: AppContext):
        super().__init__(ctx.window)
        self.ctx = ctx
        self.panel = TrainingPanel(ctx.window)
        ctx.add_dock(self.panel, Qt.BottomDockWidgetArea, visible=False)
        self.run: RunState | None = None
        self.dialog = None
        self.results_dialog = None
        self.compare_dialog = None
        self.last_estimate = None
        self.compare_results: dict[str, Any] | None = None
        self._compare_runs: dict[str, int] = {}
        self.panel.cancel_button.clicked.connect(self.cancel)
        self.panel.resume_button.clicked.connect(lambda _checked=False: self.resume())
        self.panel.results_button.clicked.connect(self.show_results)
        ctx.jobs.busy_changed.connect(lambda lane, _on: self._refresh_buttons() if lane == TRAIN_LANE else None)
        ctx.session.models_changed.connect(self._on_model_recorded)
        ctx.session.runs_changed.connect(lambda _run_id: self.refresh_runs())
        ctx.nav.project_opened.connect(lambda _store: self.refresh_runs(select_latest=True))
        self.panel.run_selected.connect(lambda _run_id: self._refresh_buttons())
        self._resumable: set[int] = set()

    # ------------------------------------------------------------------ helpers
    @property
    def session(self):
        return self.ctx.nav.session

    @property
    def store(self):
        return self.ctx.nav.store

    @property
    def busy(self) -> bool:
        return self.ctx.jobs.busy(TRAIN_LANE)

    def class_names(self) -> list[str]:
        return [c.name for c in self.store.categories()] if self.store is not None else []

    def _ml_ready(self) -> None:
        """Wait for the background import of the ml stack, if one is under way: importing
        torchvision on this thread at the same time can raise importlib's _DeadlockError."""
        self.ctx.models.wait_ml_ready()

    def _refresh_buttons(self) -> None:
        running = any(self.ctx.jobs.active(k) is not None for k in ("train", "compare"))
        self.panel.set_state(running=running, resumable=self.selected_run() in self._resumable,
                             has_results=self.results_dialog is not None)

    # ------------------------------------------------------------------ the project's runs
    def _active_run_id(self) -> int | None:
        run = self.run
        return run.run_id if run is not None and run.session is self.session and run.status == "running" else None

    def selected_run(self) -> int | None:
        return self.panel.selected_run_id()

    def refresh_runs(self, *, select_latest: bool = False) -> None:
        """List the project's runs from the store (they outlive the app) and which can resume."""
        store = self.store
        records = store.training_runs() if store is not None else []
        active = self._active_run_id()
        self._resumable = {r.id for r in records if run_list.resumable(r, active)}
        keep = None if select_latest else self.selected_run()
        if keep is None and records:
            keep = active or records[-1].id
        self.panel.set_runs(run_list.COLUMNS, [run_list.row(r, active) for r in records], keep)
        self._refresh_buttons()

    def _error(self, title: str, message: str) -> None:
        self.ctx.status.error(title, message)

    def _check_ready(self) -> bool:
        if self.session is None:
            self._error("Fine-tune", "Open a project first.")
            return False
        kinds = ("train", "estimate", "evaluate", "compare")
        job = next((j for j in (self.ctx.jobs.active(k) for k in kinds) if j is not None), None)
        if job is not None:
            self._error("Fine-tune", f"A {job.kind} job is still running; cancel it or wait.")
            return False
        self._ml_ready()
        import_trainer()  # here, once, rather than racing another thread's import on the lane
        return True

    def _submit(self, kind: str, fn, **callbacks) -> None:
        self.ctx.jobs.submit(kind, fn, lane=TRAIN_LANE, drain_on_cancel=kind in ("train", "compare"),
                             on_error=lambda exc: self._on_failed(kind, exc), **callbacks)
        self._refresh_buttons()

    def _on_item(self, kind: str, item: tuple) -> None:
        """An item a training job relayed: ("progress", label, record) or ("checkpoint", ...)."""
        if item[0] == "checkpoint":
            self._on_checkpoint(item[1], item[2], item[3])
            return
        label, record = item[1], item[2]
        if kind == "compare":
            if record.kind == "start":
                self.panel.clear(f"Compare backbones: training {label}")
            self.progress.emit(kind, (label, record))
        else:
            self.progress.emit(kind, record)
            if record.kind == "cancelled" and self.run is not None:
                self.run.resume_from = record.checkpoint
        self.panel.add(record)

    def _update_run(self, **kw: Any) -> None:
        run = self.run
        if run is None or run.session is not self.session:
            return  # the project was closed or changed: the run folder still has everything
        try:
            run.session.update_training_run(run.run_id, **kw)
        except Exception as exc:  # noqa: BLE001 - recording must never break the run
            log.warning("could not update training run %s: %s", run.run_id, exc)

    # ------------------------------------------------------------------ dialog + estimate
    def default_options(self) -> FinetuneOptions:
        self._ml_ready()
        with ml_lock():  # a worker may be importing the ml stack right now
            from rnxstudio.ml.train_state import resolve_device

        return recommended_options(str(resolve_device("auto")), base=self.default_base())

    def default_base(self) -> str | None:
        """What a fine-tune starts from unless the user picks otherwise: the pre-labeling model
        when it is a zoo entry with shipped trained weights (the demo's ``demo``), else the
        model the project names (its preferred model), else None (the device's recommended
        model). An active checkpoint is offered first by the dialog itself."""
        from rnxstudio.data.demo_project import preferred_model
        with ml_lock():  # a worker may be importing the ml stack right now
            from rnxstudio.ml.zoo import MODELS

        choice = self.ctx.models.choice
        if choice is not None and choice.zoo_name and not choice.checkpoint:
            spec = MODELS.get(choice.zoo_name)
            if spec is not None and spec.bundled:
                return choice.zoo_name
        store = self.store
        return preferred_model(store) if store is not None else None

    def make_dialog(self, defaults: FinetuneOptions | None = None):
        from rnxstudio.ui.model_dialog import device_entries, zoo_entries
        from rnxstudio.ui.training.dialog import FinetuneDialog

        self._ml_ready()
        store = self.store
        counts = {"verified": store.count_images(ImageStatus.VERIFIED),
                  "labelled": len(store.image_ids(status=[ImageStatus.IN_PROGRESS, ImageStatus.VERIFIED])),
                  "corrected": len(store.corrected_image_ids())}
        dlg = FinetuneDialog(self.ctx.window, defaults=defaults or self.default_options(),
                             zoo=[(n, t) for n, t, _d in zoo_entries()],
                             active_checkpoint=self.ctx.models.active_checkpoint,
                             checkpoints=run_list.base_checkpoints(store),
                             class_names=self.class_names(), counts=counts, devices=device_entries())
        dlg.estimate_requested.connect(lambda opts: self.estimate(opts))
        self.dialog = dlg
        return dlg

    def open_dialog(self) -> bool:
        """Model → Fine-tune…: ask, then start a run."""
        if not self._check_ready():
            return False
        dlg = self.make_dialog()
        try:
            if dlg.exec() != dlg.DialogCode.Accepted:
                self.ctx.jobs.cancel("estimate")  # an estimate still timing steps
                return False
            return self.start_run(dlg.options())
        finally:
            self.dialog = None

    def estimate(self, opts: FinetuneOptions) -> bool:
        """Time two real training steps of ``opts`` on the train lane (answer: estimate_ready)."""
        from rnxstudio.data.exchange import ExchangeError
        with ml_lock():  # a worker may be importing the ml stack right now
            from rnxstudio.ml.compare import estimate_epoch

        if not self._check_ready():
            return False
        scratch = Path(tempfile.mkdtemp(prefix="rnx-estimate-data-"))
        try:
            snap = self.session.write_snapshot(scratch, selection=opts.selection)
            cfg = opts.to_config(out_dir=scratch / "out", coco=snap.coco, images=snap.image_root, name="estimate")
        except (ExchangeError, OSError, ValueError) as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            self._error("Estimate", str(exc))
            return False

        def job(ctx: JobContext):
            try:
                return estimate_epoch(cfg, steps=2, cancel=ctx.cancel)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)

        if self.dialog is not None:
            self.dialog.set_estimating(True)
        self._submit("estimate", job, on_done=self._on_estimate)
        return True

    def _on_estimate(self, result: Any) -> None:
        self.last_estimate = result
        if self.dialog is not None:
            self.dialog.show_estimate(result.describe())
        self.estimate_ready.emit(result)

    # ------------------------------------------------------------------ runs
    def _snapshot(self, selection: str, title: str, prefix: str = ""):
        """A new run folder with the snapshot export of the chosen labels, as (run_dir,
        Snapshot); None (after showing why) when there is nothing to train on."""
        from rnxstudio.data.exchange import ExchangeError
        from rnxstudio.data.snapshot import new_run_dir

        run_dir = new_run_dir(prefix=prefix)
        try:
            return run_dir, self.session.write_snapshot(run_dir, selection=selection)
        except (ExchangeError, OSError) as exc:
            shutil.rmtree(run_dir, ignore_errors=True)
            self._error(title, str(exc))
            return None

    def start_run(self, opts: FinetuneOptions) -> bool:
        """Snapshot the chosen images, record the run, start training (returns False on a user error)."""
        from rnxstudio.data.exchange import ExchangeError
        from rnxstudio.data.snapshot import new_run_dir
        with ml_lock():  # a worker may be importing the ml stack right now
            from rnxstudio.ml.project_run import start_run

        if not self._check_ready():
            return False
        run_dir = new_run_dir()
        try:
            started = start_run(self.session, opts, run_dir)
        except (ExchangeError, OSError) as exc:
            shutil.rmtree(run_dir, ignore_errors=True)
            self._error("Fine-tune", str(exc))
            return False
        cfg, snap, run_id = started.cfg, started.snapshot, started.run_id
        self.run = RunState(run_id, run_dir, cfg, opts, snap, self.session)
        self.results_dialog = None
        self.refresh_runs(select_latest=True)
        self.panel.clear(f"Run {run_id}: {Path(opts.base).name} on {snap.summary()} → {run_dir}")
        self.panel.setVisible(True)
        self.panel.raise_()
        self._start_training(cfg)
        self.ctx.status.message(f"Fine-tuning started (run {run_id})", 5000)
        self.run_started.emit(run_id)
        return True

    def _start_training(self, cfg: Any) -> None:
        self._submit("train", lambda ctx: finetune_items(cfg, ctx), on_yield=lambda item: self._on_item("train", item),
                     on_done=self._train_finished)

    def cancel(self) -> None:
        """Stop the running job at its next step (a run leaves a resumable checkpoint)."""
        if self.busy:
            self.panel.append_log("cancelling at the next step…")
            for kind in ("train", "compare", "estimate", "evaluate"):
                self.ctx.jobs.cancel(kind)

    def _restore_run(self, run_id: int) -> RunState | None:
        """The RunState of a run recorded in the project (after a restart), ready to resume."""
        from rnxstudio.data.snapshot import Snapshot
        with ml_lock():  # a worker may be importing the ml stack right now
            from rnxstudio.ml import run_files
            from rnxstudio.ml.train_config import TrainConfig

        rec = next((r for r in self.store.training_runs() if r.id == run_id), None)
        point = run_files.resume_point(rec.config) if rec is not None else None
        if rec is None or point is None:
            return None
        cfg = TrainConfig.from_recipe(rec.config)
        known = {f for f in FinetuneOptions.__dataclass_fields__}
        opts = FinetuneOptions(**{k: v for k, v in (rec.config.get("options") or {}).items() if k in known})
        if not rec.config.get("options"):
            opts.base = str(rec.config.get("base") or cfg.model)
        snap = Snapshot(coco=Path(str(cfg.coco)), image_root=Path(str(cfg.images)), images=0, boxes=0,
                        class_names=run_list.class_names_of(str(cfg.coco)), selection=opts.selection)
        run_dir = Path(rec.config.get("run_dir") or Path(str(cfg.out_dir)).parent)
        return RunState(run_id, run_dir, cfg, opts, snap, self.session, status="cancelled", resume_from=str(point),
                        model_id=rec.model_id, metrics=dict(rec.metrics))

    def resume(self, run_id: int | None = None) -> bool:
        """Continue the selected (or given) cancelled or interrupted run from its last checkpoint,
        in this session or one recorded before a restart."""
        run_id = run_id if run_id is not None else self.selected_run()
        if run_id is None and self.run is not None:
            run_id = self.run.run_id
        if run_id is None or run_id not in self._resumable or not self._check_ready():
            return False
        run = self.run if self.run is not None and self.run.run_id == run_id and self.run.session is self.session \
            else self._restore_run(run_id)
        if run is None:
            return False
        with ml_lock():  # a worker may be importing the ml stack right now
            from rnxstudio.ml import run_files

        run.resume_from = str(run_files.resume_point(run.cfg.recipe()) or run.resume_from)
        self.run = run
        self.results_dialog = None
        if not self.panel.steps:
            self.panel.clear(f"Run {run_id}: resumed from {run.resume_from}")
        self.panel.setVisible(True)
        run.status = "running"
        self._update_run(status="running")
        self.panel.append_log(f"resuming from {Path(run.resume_from).name}")
        self._start_training(run.cfg.replace(resume=run.resume_from))
        return True

    # ------------------------------------------------------------------ results
    def _on_checkpoint(self, label: str | None, path: str, info: dict) -> None:
        """The trainer saved a checkpoint: record the best ones in the project."""
        session = self.session
        run_id = self._compare_runs.get(label) if label else (self.run.run_id if self.run else None)
        if session is None or run_id is None or not info.get("best"):
            return
        with ml_lock():  # a worker may be importing the ml stack right now
            from rnxstudio.ml.project_run import record_checkpoint

        try:
            known = self.run.model_id if not label and self.run is not None and self.run.run_id == run_id else None
            model = record_checkpoint(session, run_id, path, info, name="compare" if label else f"run {run_id}",
                                      known_model_id=known)
            if not label and self.run is not None:
                self.run.model_id = model.id
                self.run.metrics = dict(info.get("metrics") or {})
        except Exception as exc:  # noqa: BLE001 - recording must never break the run
            log.warning("could not record checkpoint %s: %s", path, exc)

    def _on_model_recorded(self, model_id: int) -> None:
        store = self.store
        rec = next((m for m in store.models() if m.id == model_id), None) if store is not None else None
        if rec is not None:
            self.panel.append_log(f"recorded {rec.name}: {Path(rec.checkpoint).name}")

    def _on_failed(self, kind: str, exc: BaseException) -> None:
        with ml_lock():  # a worker may be importing the ml stack right now
            from rnxstudio.ml.train_config import TrainingError

        message = str(exc) if isinstance(exc, TrainingError) else f"{type(exc).__name__}: {exc}"
        if kind == "estimate":
            if self.dialog is not None:
                self.dialog.show_estimate(f"Could not measure: {message}")
            return
        if kind == "train" and self.run is not None:
            self.run.status = "failed"
            self._update_run(status="failed", ended=True)
            self.panel.append_log(f"failed: {message}")
            self.run_failed.emit(message)
        self._refresh_buttons()
        self._error(TITLES.get(kind, "Training"), message)

    def _train_finished(self, outcome: Any) -> None:
        run = self.run
        self._refresh_buttons()
        if run is None:
            return
        if outcome.cancelled:
            run.status = "cancelled"
            run.resume_from = outcome.checkpoint
            self._update_run(status="cancelled")
            self._refresh_buttons()
            self.ctx.status.message(f"Fine-tuning cancelled at step {outcome.steps}; Resume continues it", 8000)
            self.run_cancelled.emit(outcome.checkpoint)
            return
        run.status = "finished"
        run.final = outcome.checkpoint
        self._update_run(status="finished", ended=True)
        self.panel.append_log(f"best checkpoint: {outcome.checkpoint}; measuring before/after on the val split…")
        self.run_finished.emit(outcome.checkpoint)
        self._start_before_after()

    def shutdown(self) -> None:
        """Before the job engine stops: a run in flight is recorded as cancelled (resumable)."""
        if self.ctx.jobs.active("train") is not None and self.run is not None:
            self.run.status = "cancelled"
            self._update_run(status="cancelled")
        for dlg in (self.results_dialog, self.compare_dialog):
            if dlg is not None:
                dlg.close()
