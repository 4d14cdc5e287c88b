"""Which checkpoints a fine-tuning run writes and keeps (issue 15, item 13).

A 2-minute tiny-model run used to leave 105 files / 642 MB: weights *and* optimiser state for
every epoch. A run folder now holds at most five files, whatever the run's length:

* ``<name>_best.safetensors`` + ``.json`` — the weights with the best validation AP so far
  (overwritten when validation improves; no optimiser state: it is a model, not a resume point);
* ``<name>_last.safetensors`` + ``.json`` + ``<name>_last.train.pt`` — the latest weights and
  the state to resume from them. Written at the end of a run, when it is cancelled or closed,
  and periodically: at a validation point at most once per ``cfg.checkpoint_every_min`` minutes
  (default 10), so a crash loses at most that much work.

Validation still runs every ``eval_every`` epochs (it decides the best checkpoint); only the
writing is limited. The figures measured here are in docs/adr/0022-run-checkpoint-retention.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnxstudio.ml import run_files
from rnxstudio.ml import train_state as ts
from rnxstudio.ml.run_files import BEST, LAST
from rnxstudio.ml.train_data import scale_jitter_sizes

_Trainer = Any  # rnxstudio.ml.train._Trainer (not imported: train imports this module)


def set_train_sizes(tr: _Trainer) -> None:
    t = tr.model.transform
    t.min_size = scale_jitter_sizes(tr.size) if tr.cfg.scale_jitter else (tr.size,)
    t.max_size = tr.max_size if not tr.cfg.scale_jitter else int(tr.max_size * 1.25)


def set_eval_sizes(tr: _Trainer) -> None:
    tr.model.transform.min_size = (tr.size,)
    tr.model.transform.max_size = tr.max_size


def checkpoint_path(tr: _Trainer, tag: str) -> Path:
    return run_files.checkpoint(tr.out, tr.cfg.name, tag)


def save(tr: _Trainer, tag: str, metrics: dict[str, Any] | None = None, *, resumable: bool) -> Path:
    """Weights (+ the trainer state when ``resumable``) under ``<name>_<tag>``, rank 0 only.
    A stale trainer state next to non-resumable weights is removed: it would resume from
    weights it does not belong to."""
    from rnxstudio.ml.checkpoint import save_checkpoint

    path = checkpoint_path(tr, tag)
    if tr.ctx.is_main:
        tr.built.build_kwargs.update(min_size=tr.size, max_size=tr.max_size)
        save_checkpoint(path, tr.built, recipe=tr.cfg.recipe(), metrics=metrics or {},
                        parent=tr.parent, category_ids=list(tr.data.category_ids),
                        extra={"step": tr.step, "epoch": tr.epoch, "total_steps": tr.total_steps,
                               "train_images": len(tr.train_idx), "val_images": len(tr.val_idx)})
        if resumable:
            ts.save_train_state(path, tr._state())
        else:
            ts.train_state_path(path).unlink(missing_ok=True)
    if tr.ctx.distributed:
        import torch.distributed as dist

        dist.barrier()
    return path


def save_last(tr: _Trainer, metrics: dict[str, Any] | None = None) -> Path:
    """The resumable checkpoint of the current step."""
    path = save(tr, LAST, metrics if metrics is not None else tr.last_metrics, resumable=True)
    tr.last_path = path
    tr.last_saved_step = tr.step
    tr.last_saved_at = tr.clock()
    return path


def periodic_due(tr: _Trainer) -> bool:
    minutes = tr.cfg.checkpoint_every_min
    return minutes is not None and tr.clock() - tr.last_saved_at >= float(minutes) * 60.0


def evaluate_and_keep(tr: _Trainer, *, final: bool) -> tuple[Any, Path | None, str]:
    """Validate; write ``best`` when validation improved and ``last`` when ``final`` or a periodic
    checkpoint is due. Returns (EvalResult or None, the checkpoint written or None, a note)."""
    set_eval_sizes(tr)
    result = ts.run_validation(tr.model, tr.val_ds, tr.val_idx, tr.data, tr.device, tr.ctx,
                               batch_size=max(1, tr.micro), score_thresh=tr.cfg.eval_score_thresh)
    set_train_sizes(tr)
    tr.evaluated_step = tr.step
    metrics = result.metrics if result is not None else {}
    tr.last_metrics = metrics
    written: Path | None = None
    notes = []
    info = {"epoch": tr.epoch, "step": tr.step, "metrics": metrics, "best": False, "recipe": tr.cfg.recipe()}
    if result is not None and result.map > tr.best_map:
        tr.best_map = result.map
        tr.best_path = written = save(tr, BEST, metrics, resumable=False)
        notes.append(f"best so far, saved {written.name}")
        _announce(tr, written, dict(info, best=True))
    if final or periodic_due(tr):
        written = save_last(tr, metrics)
        notes.append(f"saved {written.name}")
        _announce(tr, written, dict(info, best=result is None, last=True))  # no val set: the last is the best
    return result, written, ", ".join(notes)


def _announce(tr: _Trainer, path: Path, info: dict[str, Any]) -> None:
    if tr.ctx.is_main and tr.cfg.on_checkpoint is not None:
        tr.cfg.on_checkpoint(path, info)
