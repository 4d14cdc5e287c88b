"""The files a fine-tuning run keeps (see :mod:`rnxstudio.ml.train_save`), named without
importing torch: the app lists runs and decides whether one can be resumed from these."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

LAST, BEST = "last", "best"
WEIGHTS_SUFFIX = ".safetensors"
STATE_SUFFIX = ".train.pt"  # the resumable trainer state beside the weights (ml.train_state)


def checkpoint(out_dir: str | os.PathLike, name: str, tag: str) -> Path:
    return Path(out_dir) / f"{name}_{tag}{WEIGHTS_SUFFIX}"


def state_file(weights: str | os.PathLike) -> Path:
    p = Path(weights)
    return p.with_name(p.stem + STATE_SUFFIX)


def resume_point(recipe: dict[str, Any]) -> Path | None:
    """The checkpoint a run recorded with ``recipe`` (``TrainConfig.recipe()``) can resume
    from: its ``last`` weights with their trainer state beside them, or None."""
    if not recipe.get("out_dir"):
        return None
    last = checkpoint(recipe["out_dir"], recipe.get("name") or "model", LAST)
    return last if last.is_file() and state_file(last).is_file() else None


def best_checkpoint(recipe: dict[str, Any]) -> Path | None:
    """The run's best weights (its last ones when it had no validation), or None."""
    if not recipe.get("out_dir"):
        return None
    for tag in (BEST, LAST):
        p = checkpoint(recipe["out_dir"], recipe.get("name") or "model", tag)
        if p.is_file():
            return p
    return None
