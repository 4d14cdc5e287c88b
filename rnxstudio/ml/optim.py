"""Optimiser and learning-rate schedule for fine-tuning.

The schedule is a pure function of the step (:func:`lr_factor`), so a resumed run follows
exactly the curve of an uninterrupted one. Norm weights and biases get no weight decay.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import torch
from torch import nn

from rnxstudio.ml.train_config import ADAMW_LR_PER_16, SGD_LR_PER_16, TrainConfig

_NORM_TYPES = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.SyncBatchNorm, nn.InstanceNorm2d)


def base_lr(cfg: TrainConfig, images_per_step: int) -> float:
    """``cfg.lr`` if set, else the per-16-images rate scaled linearly to ``images_per_step``."""
    if cfg.lr is not None:
        return float(cfg.lr)
    per16 = cfg.lr_per_16 if cfg.lr_per_16 is not None else (
        ADAMW_LR_PER_16 if cfg.optimizer == "adamw" else SGD_LR_PER_16)
    return per16 * images_per_step / 16.0


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: decayed conv/linear weights, and norm parameters + biases without decay."""
    decay, no_decay = [], []
    seen: set[int] = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            if isinstance(module, _NORM_TYPES) or name.endswith("bias") or p.ndim <= 1:
                no_decay.append(p)
            else:
                decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def make_optimizer(model: nn.Module, cfg: TrainConfig, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        wd = 1e-4 if cfg.weight_decay is None else cfg.weight_decay
        return torch.optim.SGD(param_groups(model, wd), lr=lr, momentum=cfg.momentum)
    if cfg.optimizer == "adamw":
        wd = 0.05 if cfg.weight_decay is None else cfg.weight_decay
        return torch.optim.AdamW(param_groups(model, wd), lr=lr)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose sgd or adamw")


def warmup_steps(cfg: TrainConfig, total_steps: int) -> int:
    if cfg.warmup_steps is not None:
        return max(0, int(cfg.warmup_steps))
    return max(1, min(200, total_steps // 10))


def lr_factor(step: int, total_steps: int, warmup: int, cfg: TrainConfig) -> float:
    """Multiplier of the base lr for optimiser step ``step`` (0-based): linear warmup from
    ``warmup_factor``, then cosine down to ``min_lr_factor`` or step decay (x0.1 at each
    milestone fraction of the run)."""
    total = max(1, total_steps)
    if step < warmup:
        a = step / max(1, warmup)
        warm = cfg.warmup_factor * (1 - a) + a
    else:
        warm = 1.0
    if cfg.schedule == "cosine":
        t = min(1.0, max(0, step - warmup) / max(1, total - warmup))
        decay = cfg.min_lr_factor + (1 - cfg.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * t))
    elif cfg.schedule == "step":
        decay = 0.1 ** sum(1 for m in cfg.step_milestones if step >= m * total)
    else:
        raise ValueError(f"unknown schedule {cfg.schedule!r}; choose cosine or step")
    return warm * decay


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr


def set_trainable_stages(body: nn.Module, trainable_layers: int) -> None:
    """Make exactly the last ``trainable_layers`` of (layer4, layer3, layer2, layer1, conv1+bn1)
    of a ResNet-style trunk trainable, and freeze the rest."""
    if not 0 <= trainable_layers <= 5:
        raise ValueError(f"trainable_layers must be in 0..5, got {trainable_layers}")
    stages = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
    if trainable_layers == 5:
        stages.append("bn1")
    for name, p in body.named_parameters():
        p.requires_grad_(any(name.startswith(s + ".") or name == s for s in stages))


def backbone_body(model: nn.Module) -> nn.Module | None:
    """The ResNet trunk inside a torchvision FasterRCNN backbone (FPN or one-map), if found."""
    bb = getattr(model, "backbone", None)
    body = getattr(bb, "body", None)
    if body is not None:
        return body
    return None


MEASURE_STEPS = 3  # steps timed before a --minutes run fixes its step count...
REPLAN_STEP = 50  # ...which is checked once more against the median of this many steps


def plan_steps(step: int, timed: list[float], seconds_left: float, eval_cost: Callable[[float], float],
               current: int | None, cap: int | None = None) -> int | None:
    """The total step count of a ``--minutes`` run, or None to keep ``current``.

    ``timed`` holds the seconds of each step so far; the first (one-off costs) is left out and
    the median of the rest is used, plus ``eval_cost(step_s)``, the validation time spread over
    each step. The first plan is made after :data:`MEASURE_STEPS` steps; at :data:`REPLAN_STEP`
    it is made again and replaces the first if they differ by over 5 %, so a burst of load from
    other programs during the first few steps does not fix the whole run's length (the cosine
    schedule then stretches or shrinks a little). ``cap`` bounds the plan (an epoch limit).
    """
    first = current is None
    if first and len(timed) <= MEASURE_STEPS:
        return None
    if not first and (step != REPLAN_STEP or step >= current):
        return None
    per = statistics.median(timed[1:])
    planned = step + max(1, int(seconds_left / (per + eval_cost(per))))
    if cap is not None:
        planned = min(planned, cap)
    if not first and abs(planned - current) <= 0.05 * current:
        return None
    return planned


def eval_period(eval_s: float, step_s: float, steps_per_epoch: int, every: int, share: float | None) -> int:
    """Epochs between validation passes in a ``--minutes`` run: at least ``every``, and enough that
    a pass (``eval_s``, measured, checkpoint writes included) costs at most ``share`` of the
    training time between two passes. A time budget is spent on training: on a small labelled set
    an epoch is a few steps and a pass per epoch took a fifth of a 3-minute CPU run (ADR 0027).
    ``share`` None (or 0) keeps ``every``."""
    if not share or eval_s <= 0 or step_s <= 0:
        return every
    return max(every, math.ceil(eval_s / (share * step_s * max(1, steps_per_epoch))))


def plan_after_eval(step: int, step_s: float, eval_s: float, seconds_left: float, steps_between_evals: int,
                    current: int | None, cap: int | None = None) -> int | None:
    """A ``--minutes`` run's total step count re-planned after a validation pass, or None to keep
    ``current``. Uses the measured seconds of a step (``step_s``) and of that pass (``eval_s``):
    one more pass every ``steps_between_evals`` steps and a last one at the end must fit in
    ``seconds_left`` too, so the schedule reaches its end at the deadline instead of being cut
    short by evaluation time that the first plan only guessed."""
    if current is None or step >= current or step_s <= 0:
        return None
    per = step_s + eval_s / max(1, steps_between_evals)
    planned = step + max(1, int((seconds_left - eval_s) / per))
    if cap is not None:
        planned = min(planned, cap)
    return None if planned == current else planned
