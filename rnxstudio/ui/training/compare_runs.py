"""Compare backbones: train several zoo models on one snapshot with the same split, image size,
batch and budget (one after the other on the training thread), then show their val metrics side
by side. A mixin of :class:`~rnxstudio.ui.training.controller.TrainingController`."""

from __future__ import annotations

import logging
from typing import Any

from rnxstudio.ui.jobs import JobContext
from rnxstudio.ui.ml_import import ml_lock
from rnxstudio.ui.training.jobs import finetune_items
from rnxstudio.ui.training.options import FinetuneOptions

log = logging.getLogger(__name__)


def eval_kwargs(cfg: Any) -> dict[str, Any]:
    """evaluate_on_split() arguments that reproduce a run's val split and image size."""
    return dict(split="val", val_split=cfg.val_split, split_seed=cfg.split_seed, device=cfg.device,
                score_thresh=cfg.eval_score_thresh, pretrained_backbone=cfg.pretrained_backbone,
                size=cfg.size, max_size=cfg.max_size)


class CompareMixin:
    """Needs the controller's ctx, session, panel, _check_ready, _snapshot, _submit, _on_item, _error,
    use_for_prelabel and the attributes set in its __init__."""

    # ------------------------------------------------------------------ compare backbones
    def compare_backbones(self, names: list[str], opts: FinetuneOptions) -> bool:
        """Train each zoo model in ``names`` with the same snapshot, split and budget (one after
        the other on the worker thread), then show their val metrics side by side."""
        if not self._check_ready():
            return False
        if len(names) < 2 or len(set(names)) != len(names):
            self._error("Compare backbones", "Pick two different models.")
            return False
        made = self._snapshot(opts.selection, "Compare backbones", prefix="compare-")
        if made is None:
            return False
        run_dir, snap = made
        cfgs = {}
        self._compare_runs = {}
        for name in names:
            o = FinetuneOptions(**{**opts.__dict__, "base": name})
            cfgs[name] = o.to_config(out_dir=run_dir / name, coco=snap.coco, images=snap.image_root, name=name)
            self._compare_runs[name] = self.session.add_training_run(config=dict(cfgs[name].recipe(), compare=names),
                                                                     snapshot_path=str(snap.coco))
        self.compare_results = None
        self.panel.clear(f"Compare backbones: {' vs '.join(names)} on {snap.summary()}")
        self.panel.setVisible(True)
        coco, images = snap.coco, snap.image_root

        def job(ctx: JobContext):
            import time

            with ml_lock():  # a worker may be importing the ml stack right now
                from rnxstudio.ml.compare import evaluate_on_split

            out: dict[str, Any] = {}
            for name, cfg in cfgs.items():
                if ctx.cancelled():
                    break
                t0 = time.monotonic()
                outcome = yield from finetune_items(cfg, ctx, label=name)
                seconds = time.monotonic() - t0
                ev = None if outcome.cancelled else evaluate_on_split(outcome.checkpoint, coco, images,
                                                                      cancel=ctx.cancel, **eval_kwargs(cfg))
                out[name] = {"eval": ev, "checkpoint": outcome.checkpoint, "seconds": seconds,
                             "steps": outcome.steps, "cancelled": outcome.cancelled}
            return out

        self._submit("compare", job, on_yield=lambda item: self._on_item("compare", item), on_done=self._show_compare)
        return True

    def _show_compare(self, res: dict[str, Any]) -> None:
        with ml_lock():  # a worker may be importing the ml stack right now
            from rnxstudio.ml.compare import comparison_table
        from rnxstudio.ui.training.results import ResultsDialog

        self.compare_results = res
        session = self.session
        for name, r in res.items():
            run_id = self._compare_runs.get(name)
            if session is not None and run_id is not None:
                try:
                    session.update_training_run(run_id, status="cancelled" if r["cancelled"] else "finished",
                                                ended=not r["cancelled"],
                                                metrics={"val": r["eval"].metrics} if r["eval"] is not None else None)
                except Exception as exc:  # noqa: BLE001
                    log.warning("could not update compare run %s: %s", run_id, exc)
        header, rows = comparison_table({n: r["eval"] for n, r in res.items()})
        rows.append(["train time"] + [f"{r['seconds']:.0f} s ({r['steps']} steps)" for r in res.values()]
                    + ([""] if len(res) == 2 else []))
        done = {n: r["checkpoint"] for n, r in res.items() if not r["cancelled"]}
        self.compare_dialog = ResultsDialog(
            self.ctx.window, title="Compare backbones",
            intro="Same snapshot, split, image size, batch and budget for each model; COCO metrics on the val split.",
            header=header, rows=rows, checkpoints=done, on_use=self.use_for_prelabel)
        self.compare_dialog.show()
        self.compare_ready.emit(self.compare_dialog)
