"""Before/after: once a run finishes, measure the model it replaces and the new checkpoint on the
run's own validation split, show them side by side, and offer the new one for pre-labelling.
A mixin of :class:`~rnxstudio.ui.training.controller.TrainingController`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnxstudio.ui.jobs import JobContext
from rnxstudio.ui.ml_import import ml_lock
from rnxstudio.ui.training.compare_runs import eval_kwargs


class BeforeAfterMixin:
    """Needs the controller's ctx, run, panel, results_dialog, results_ready, _submit, _update_run,
    _refresh_buttons and class_names."""

    def previous_model(self, run: Any) -> tuple[str, str]:
        """(label, model) to compare against: the active pre-labeling checkpoint when it has the
        run's classes, else the run's base model."""
        active = self.ctx.models.active_checkpoint
        if active and Path(active).resolve() != Path(run.final or "").resolve():
            with ml_lock():  # a worker may be importing the ml stack right now
                from rnxstudio.ml.checkpoint import read_sidecar

            try:
                meta = read_sidecar(active) or {}
            except Exception:  # noqa: BLE001 - unreadable sidecar: fall back to the base model
                meta = {}
            if [c.get("name") for c in meta.get("classes", [])] == list(run.snapshot.class_names):
                return f"previous ({Path(active).name})", active
        return f"base ({Path(run.options.base).name})", run.options.base

    def _start_before_after(self) -> None:
        with ml_lock():  # a worker may be importing the ml stack right now
            from rnxstudio.ml.compare import evaluate_on_split

        run = self.run
        label, prev = self.previous_model(run)
        kw = eval_kwargs(run.cfg)
        coco, images, final = run.snapshot.coco, run.snapshot.image_root, run.final

        def job(ctx: JobContext) -> dict[str, Any]:
            before = evaluate_on_split(prev, coco, images, cancel=ctx.cancel, **kw)
            after = evaluate_on_split(final, coco, images, cancel=ctx.cancel, **kw)
            return {"before_label": label, "before": before, "after": after, "checkpoint": final}

        self._submit("evaluate", job, on_done=self._show_before_after)

    def _show_before_after(self, res: dict[str, Any]) -> None:
        with ml_lock():  # a worker may be importing the ml stack right now
            from rnxstudio.ml.compare import comparison_table
        from rnxstudio.ui.training.results import ResultsDialog

        run = self.run
        if run is None:
            return
        run.results = res
        header, rows = comparison_table({res["before_label"]: res["before"], "new": res["after"]})
        self._update_run(metrics=dict(run.metrics, val_after=res["after"].metrics, val_before=res["before"].metrics))
        n = res["after"].num_images
        intro = (f"Run {run.run_id}: COCO metrics on the same {n} validation image{'s' if n != 1 else ''} "
                 f"(split {run.cfg.val_split:g}, seed {run.cfg.split_seed}).\nNew checkpoint: {res['checkpoint']}")
        self.results_dialog = ResultsDialog(self.ctx.window, title="Fine-tuning results", intro=intro,
                                            header=header, rows=rows, checkpoints={"new": res["checkpoint"]},
                                            on_use=self.use_for_prelabel)
        self.results_dialog.show()
        self.panel.append_log("before/after: " + "; ".join(f"{r[0]} {r[1]} → {r[2]}" for r in rows[:2]))
        self._refresh_buttons()
        self.results_ready.emit(self.results_dialog)

    def show_results(self) -> None:
        if self.results_dialog is not None:
            self.results_dialog.show()
            self.results_dialog.raise_()

    def use_for_prelabel(self, checkpoint: str) -> None:
        """Make ``checkpoint`` the active pre-labeling model (hot-swap, no restart)."""
        self.ctx.models.hot_swap(checkpoint, self.class_names())
        self.ctx.status.message(f"Pre-labeling now uses {Path(checkpoint).name}", 8000)
