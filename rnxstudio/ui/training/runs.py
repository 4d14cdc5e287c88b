"""The project's training runs as the Training dock lists them, read from the store (through
the open session), so they are there after a restart: project, base model, data snapshot,
metrics and state — and which can be resumed, or serve as the base of the next fine-tune."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnxstudio.ml import run_files

COLUMNS = ("Run", "State", "Base model", "Data snapshot", "Val AP / AP50", "Started")


def run_state(rec: Any, active_run_id: int | None) -> str:
    """A run the store calls "running" that this app is not running was interrupted (the app
    was killed or crashed): it resumes from its last periodic checkpoint."""
    if rec.status == "running" and rec.id != active_run_id:
        return "interrupted"
    return rec.status


def resumable(rec: Any, active_run_id: int | None) -> bool:
    return run_state(rec, active_run_id) in ("cancelled", "interrupted") and \
        run_files.resume_point(rec.config) is not None


def snapshot_summary(rec: Any) -> str:
    path = Path(rec.snapshot_path) if rec.snapshot_path else None
    if path is None or not path.is_file():
        return f"{rec.config.get('selection', '?')} (snapshot missing)"
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        return (f"{len(coco.get('images', []))} images, {len(coco.get('annotations', []))} boxes "
                f"({rec.config.get('selection', '?')})")
    except (OSError, ValueError):
        return f"{path} (unreadable)"


def metrics_text(rec: Any) -> str:
    m = rec.metrics or {}
    ap, ap50 = m.get("AP"), m.get("AP50")
    return f"{ap:.3f} / {ap50:.3f}" if isinstance(ap, (int, float)) and isinstance(ap50, (int, float)) else "–"


def row(rec: Any, active_run_id: int | None) -> tuple[str, ...]:
    base = str(rec.config.get("base") or rec.config.get("model") or "?")
    return (str(rec.id), run_state(rec, active_run_id), Path(base).name if "/" in base else base,
            snapshot_summary(rec), metrics_text(rec), str(rec.started).replace("T", " ")[:19])


def class_names_of(snapshot: str | Path) -> list[str]:
    """The class names of a run's snapshot export, in category id order."""
    coco = json.loads(Path(snapshot).read_text(encoding="utf-8"))
    return [c["name"] for c in sorted(coco.get("categories", []), key=lambda c: c["id"])]


def base_checkpoints(store: Any) -> list[tuple[str, str]]:
    """(label, checkpoint) of every finished run's best weights still on disk, newest first:
    what the fine-tune dialog offers as a base besides the zoo."""
    models = {m.id: m for m in store.models()}
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for rec in reversed(store.training_runs()):
        if rec.status != "finished":
            continue
        model = models.get(rec.model_id) if rec.model_id is not None else None
        path = Path(model.checkpoint) if model is not None else run_files.best_checkpoint(rec.config)
        if path is None or not path.is_file() or str(path) in seen:
            continue
        seen.add(str(path))
        out.append((f"Run {rec.id} ({metrics_text(rec)} val AP/AP50): {path.name}", str(path)))
    return out
