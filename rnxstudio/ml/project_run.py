"""A fine-tune run of an open project, without Qt: snapshot → run record → TrainConfig, and the
recording of the run's best checkpoints and its end.

These are the steps the GUI's Training controller (:mod:`rnxstudio.ui.training.controller`) takes
around the trainer; ``rnxstudio bench loop`` takes them too, so the benchmark measures the app's
own fine-tune path and not a copy of it. Every project write goes through the
:class:`~rnxstudio.data.session.ProjectSession` given, on the caller's thread.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnxstudio.ml.finetune_options import FinetuneOptions
from rnxstudio.ml.train_config import TrainConfig


@dataclass
class ProjectRun:
    """A started run: its record in the project, its folder, its config and its snapshot."""

    run_id: int
    run_dir: Path
    cfg: TrainConfig
    options: FinetuneOptions
    snapshot: Any  # data.snapshot.Snapshot


def start_run(session: Any, opts: FinetuneOptions, run_dir: str | os.PathLike) -> ProjectRun:
    """Snapshot the images ``opts.selection`` picks into ``run_dir``, build the config (checkpoints
    in ``run_dir/checkpoints``) and record the run as running. Raises what
    ``session.write_snapshot`` raises (ExchangeError when nothing qualifies, OSError)."""
    run_dir = Path(run_dir)
    snap = session.write_snapshot(run_dir, selection=opts.selection)
    cfg = opts.to_config(out_dir=run_dir / "checkpoints", coco=snap.coco, images=snap.image_root)
    config = dict(cfg.recipe(), selection=opts.selection, base=opts.base, run_dir=str(run_dir),
                  options=asdict(opts))
    run_id = session.add_training_run(config=config, snapshot_path=str(snap.coco))
    return ProjectRun(run_id, run_dir, cfg, opts, snap)


def record_checkpoint(session: Any, run_id: int, path: str | os.PathLike, info: dict[str, Any], *,
                      name: str, known_model_id: int | None = None) -> Any:
    """The trainer saved a checkpoint (its ``on_checkpoint`` hook): record a best one in the
    project as a model of run ``run_id`` with its metrics. ``known_model_id``: the run's model
    recorded so far; when it is this same file (a run's ``best`` file now holds better weights) its
    record is updated instead of adding another. Returns the ModelRecord, or None for a checkpoint
    that is not the best so far."""
    if not info.get("best"):
        return None
    from rnxstudio.ml.train_state import store_recorder

    metrics = info.get("metrics") or {}
    if known_model_id is not None and any(m.id == known_model_id and m.checkpoint == str(path)
                                          for m in session.store.models()):
        session.update_model(known_model_id, name=f"{name} (epoch {info['epoch']})", metrics=metrics)
        model = next(m for m in session.store.models() if m.id == known_model_id)
    else:
        store_recorder(session, name=name)(Path(path), info)
        model = session.store.models()[-1]
    session.update_training_run(run_id, model_id=model.id, metrics=metrics)
    return model


def finish_run(session: Any, run_id: int, *, cancelled: bool = False) -> None:
    """Record how the run ended: cancelled (resumable) or finished."""
    if cancelled:
        session.update_training_run(run_id, status="cancelled")
    else:
        session.update_training_run(run_id, status="finished", ended=True)
