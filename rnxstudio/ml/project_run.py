"""A fine-tune run of an open project, without Qt: snapshot → run record → TrainConfig, and the
recording of the run's best checkpoints and its end.

These are the steps the GUI's Training controller (:mod:`rnxstudio.ui.training.controller`) takes
around the trainer; ``rnxstudio bench loop`` takes them too, so the benchmark measures the app's
own fine-tune path and not a copy of it. Every project write goes through the
:class:`~rnxstudio.data.session.ProjectSession` given, on the caller's thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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
    config = dict(cfg.recipe(), selection=opts.selection, base=opts.base)
    run_id = session.add_training_run(config=config, snapshot_path=str(snap.coco))
    return ProjectRun(run_id, run_dir, cfg, opts, snap)


def record_checkpoint(session: Any, run_id: int, path: str | os.PathLike, info: dict[str, Any], *,
                      name: str) -> Any:
    """The trainer saved a checkpoint (its ``on_checkpoint`` hook): record a best one in the
    project as a model of run ``run_id`` with its metrics. Returns the ModelRecord, or None for a
    checkpoint that is not the best so far."""
    if not info.get("best"):
        return None
    from rnxstudio.ml.train_state import store_recorder

    store_recorder(session, name=name)(Path(path), info)
    model = session.store.models()[-1]
    session.update_training_run(run_id, model_id=model.id, metrics=info.get("metrics") or {})
    return model


def finish_run(session: Any, run_id: int, *, cancelled: bool = False) -> None:
    """Record how the run ended: cancelled (resumable) or finished."""
    if cancelled:
        session.update_training_run(run_id, status="cancelled")
    else:
        session.update_training_run(run_id, status="finished", ended=True)
