"""Models (checkpoints) and training runs recorded in a project: a mixin of ProjectStore."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ModelRecord:
    id: int
    name: str
    checkpoint: str
    classes: list[str]
    metrics: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)
    parent_id: int | None = None
    created: str = ""


@dataclass(frozen=True)
class TrainingRun:
    id: int
    model_id: int | None
    snapshot_path: str | None
    config: dict
    status: str
    started: str
    ended: str | None
    metrics: dict


class ModelsMixin:
    """Rows of the ``models`` and ``training_runs`` tables (needs ``_q`` and ``transaction``)."""

    def add_model(self, checkpoint: str | Path, *, name: str, classes: Sequence[str], metrics: dict | None = None,
                  recipe: dict | None = None, parent_id: int | None = None) -> ModelRecord:
        created = _now()
        with self.transaction():
            cur = self._q("INSERT INTO models (name, checkpoint, classes, metrics, recipe, parent_id, created) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (name, str(checkpoint), json.dumps(list(classes)), json.dumps(metrics or {}),
                           json.dumps(recipe or {}), parent_id, created))
        return ModelRecord(cur.lastrowid, name, str(checkpoint), list(classes), metrics or {}, recipe or {}, parent_id, created)

    def models(self) -> list[ModelRecord]:
        rows = self._q("SELECT id, name, checkpoint, classes, metrics, recipe, parent_id, created FROM models ORDER BY id")
        return [ModelRecord(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), json.loads(r[5]), r[6], r[7])
                for r in rows]

    def update_model(self, model_id: int, *, name: str | None = None, metrics: dict | None = None) -> None:
        """New name/metrics for a recorded checkpoint whose file a run overwrote with better weights."""
        sets, params = [], []
        if name is not None:
            sets.append("name = ?")
            params.append(name)
        if metrics is not None:
            sets.append("metrics = ?")
            params.append(json.dumps(metrics))
        if sets:
            with self.transaction():
                if self._q(f"UPDATE models SET {', '.join(sets)} WHERE id = ?", (*params, model_id)).rowcount == 0:
                    raise KeyError(f"no model with id {model_id}")

    def add_training_run(self, *, config: dict, model_id: int | None = None, snapshot_path: str | None = None,
                         status: str = "running") -> int:
        with self.transaction():
            cur = self._q("INSERT INTO training_runs (model_id, snapshot_path, config, status, started) VALUES (?, ?, ?, ?, ?)",
                          (model_id, snapshot_path, json.dumps(config), status, _now()))
        return cur.lastrowid

    def update_training_run(self, run_id: int, *, status: str | None = None, metrics: dict | None = None,
                            model_id: int | None = None, ended: bool = False) -> None:
        sets, params = [], []
        for col, val in (("status", status), ("model_id", model_id)):
            if val is not None:
                sets.append(f"{col} = ?")
                params.append(val)
        if metrics is not None:
            sets.append("metrics = ?")
            params.append(json.dumps(metrics))
        if ended:
            sets.append("ended = ?")
            params.append(_now())
        if sets:
            with self.transaction():
                if self._q(f"UPDATE training_runs SET {', '.join(sets)} WHERE id = ?", (*params, run_id)).rowcount == 0:
                    raise KeyError(f"no training run with id {run_id}")

    def training_runs(self) -> list[TrainingRun]:
        rows = self._q("SELECT id, model_id, snapshot_path, config, status, started, ended, metrics "
                       "FROM training_runs ORDER BY id")
        return [TrainingRun(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], json.loads(r[7])) for r in rows]
