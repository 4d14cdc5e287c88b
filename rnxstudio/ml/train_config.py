"""Fine-tuning configuration, progress records, errors and per-device recommended defaults.

Plain dataclasses: the GUI dialog, the CLI and the benchmarks all fill a :class:`TrainConfig`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnxstudio.core.model import LabelSet
from rnxstudio.ml.evaluate import EvalResult

SGD_LR_PER_16 = 0.02  # detectron2's reference: 0.02 for 16 images per step
ADAMW_LR_PER_16 = 4e-3
ADAMW_SCRATCH_LR_PER_16 = 8e-3  # from random init (shapes benchmark: better AP than 4e-3 at equal compute)


class TrainingError(RuntimeError):
    """Training cannot go on (bad data, repeated non-finite losses, out of memory twice...)."""


@dataclass
class TrainConfig:
    """Everything a fine-tuning run needs. Paths may be str or Path.

    Data: ``coco`` + ``images`` (a COCO export and its image root), or ``labelset`` (+ ``images``)
    for in-memory labels. Model: ``model`` is a zoo name or a checkpoint path. Length: ``epochs``,
    or ``minutes`` (the step count is fixed after the first steps are timed), or ``max_steps``;
    the first that is reached ends the run. ``lr`` None means ``lr_per_16 * images per step / 16``.
    """

    out_dir: str | Path
    coco: str | Path | None = None
    images: str | Path | None = None
    labelset: LabelSet | None = None
    model: str = "resnext_tiny_fpn"
    pretrained_backbone: bool = True
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # extra build_model() arguments
    epochs: int | None = None
    minutes: float | None = None
    max_steps: int | None = None
    batch_size: int = 4
    lr: float | None = None
    lr_per_16: float | None = None  # default by optimizer
    optimizer: str = "sgd"  # "sgd" | "adamw"
    momentum: float = 0.9
    weight_decay: float | None = None  # default 1e-4 (sgd) / 0.05 (adamw)
    schedule: str = "cosine"  # "cosine" | "step"
    warmup_steps: int | None = None  # default: min(200, 10% of the run)
    warmup_factor: float = 0.001
    step_milestones: tuple[float, ...] = (0.67, 0.89)  # fractions of the run, for "step"
    min_lr_factor: float = 0.01  # cosine ends at lr * this
    clip_grad_norm: float | None = 10.0
    # validate and save a moving average of the weights whose time constant is this fraction of
    # the run (ml/weight_average.py); None = the live weights
    ema_horizon: float | None = None
    # training-time sampling of the detector (None = torchvision's defaults: 256 RPN anchors and
    # 512 RoIs per image, 2000 proposals kept before/after NMS); cheaper values suit small CPU runs
    rpn_batch_per_image: int | None = None
    roi_batch_per_image: int | None = None
    rpn_pre_nms_train: int | None = None
    rpn_post_nms_train: int | None = None
    size: int | None = None  # min_size; None = the model's
    max_size: int | None = None
    scale_jitter: bool = True
    hflip: float = 0.5
    photometric: float = 0.2
    trainable_layers: int | None = None  # None = default for the device / weights
    device: str = "auto"
    amp: bool | None = None  # None = on CUDA only
    channels_last: bool | None = None  # None = on CUDA only
    val_split: float = 0.2
    split_seed: int = 0
    seed: int = 0
    eval_every: int = 1  # epochs between validations (and always at the end)
    # a --minutes run validates less often when a pass costs more than this share of the training
    # between passes (measured after each pass; ml/optim.eval_period, ADR 0027); None: eval_every
    eval_share: float | None = 0.05
    # a resumable `<name>_last` checkpoint at a validation point at most this often (minutes;
    # None: only at the end / on cancel). Only `best` and `last` are kept (ml/train_save.py)
    checkpoint_every_min: float | None = 10.0
    eval_score_thresh: float = 0.5
    resume: str | Path | None = None
    max_nonfinite: int = 5
    cache_mb: int = 1024
    num_workers: int = 0
    name: str = "model"  # checkpoint stem prefix
    cancel: threading.Event | None = None
    on_checkpoint: Callable[[Path, dict[str, Any]], None] | None = None  # (path, info) e.g. store hook
    clock: Callable[[], float] | None = None  # seconds; None = time.monotonic (benchmarks may use CPU time)

    def replace(self, **kw: Any) -> TrainConfig:
        return dataclasses.replace(self, **kw)

    @classmethod
    def from_recipe(cls, recipe: dict[str, Any], **overrides: Any) -> TrainConfig:
        """The config a run recorded with :meth:`recipe` (what resuming a listed run needs);
        keys this version does not know are ignored."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) and k == "step_milestones" else v)
              for k, v in recipe.items() if k in known}
        kw.update(overrides)
        return cls(**kw)

    def recipe(self) -> dict[str, Any]:
        """The JSON-able part of the config, recorded with every checkpoint."""
        skip = {"labelset", "cancel", "on_checkpoint", "clock"}
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in skip:
                continue
            v = getattr(self, f.name)
            out[f.name] = str(v) if isinstance(v, Path) else (list(v) if isinstance(v, tuple) else v)
        return out


@dataclass
class Progress:
    """One record yielded by :func:`rnxstudio.ml.train.finetune`."""

    step: int
    epoch: int
    total_steps: int
    losses: dict[str, float]
    lr: float
    images_per_s: float
    eta_s: float
    eval: EvalResult | None = None
    message: str = ""
    checkpoint: str | None = None
    kind: str = "step"  # "start" | "step" | "eval" | "checkpoint" | "done" | "cancelled"

    @property
    def loss(self) -> float:
        return float(sum(self.losses.values()))


def recommended_config(device: str, *, pretrained: bool = False, num_images: int | None = None) -> dict[str, Any]:
    """Sensible defaults per device, as TrainConfig keyword arguments.

    CPU (2-4 cores): the tiny ResNeXt-FPN (anchors 16-256 px), every stage trainable when training
    from random init (two when starting from ImageNet weights), 256 px images with scale jitter,
    batch 4, AdamW with warmup + cosine (0.008 per 16 images from random init, 0.004 from
    pretrained weights), 128 RoIs and 300 proposals per image in training, checkpoints of a weight
    average (``ema_horizon``): the best of the recipes measured on the shapes benchmark
    (docs/training.md, ``rnxstudio bench shapes``).
    CUDA: ResNeXt-50-FPN at 800 px, 3 trainable stages, batch 8, SGD 0.02 per 16 images, AMP.
    """
    if device.startswith("cuda"):
        return dict(model="resnext50_32x4d_fpn", size=800, max_size=1333, batch_size=8, optimizer="sgd",
                    trainable_layers=3 if pretrained else 5, schedule="cosine", amp=True)
    return cpu_defaults(pretrained=pretrained)


def cpu_defaults(*, pretrained: bool = False) -> dict[str, Any]:
    """The app's CPU fine-tuning defaults (see :func:`recommended_config`)."""
    return dict(
        model="resnext_tiny_fpn",
        size=256,
        max_size=416,
        roi_batch_per_image=128,  # 64 before RoIAlign got cheap on the CPU (ADR 0008)
        rpn_pre_nms_train=1000,
        rpn_post_nms_train=300,
        batch_size=4,
        optimizer="adamw",
        lr_per_16=ADAMW_LR_PER_16 if pretrained else ADAMW_SCRATCH_LR_PER_16,
        schedule="cosine",
        trainable_layers=2 if pretrained else 5,
        scale_jitter=True,
        # validate and save a weight average over the last ~5 % of the run: neutral once the
        # cosine has ended (shapes, 1500 steps: AP50 within +-0.002 over 3 seeds) but a better
        # model when a run stops early (+0.04-0.06 AP at 60 % of the run); docs/training.md
        ema_horizon=0.05,
    )


def starts_trained(base: str) -> bool:
    """Whether a fine-tune from ``base`` (a zoo name or a checkpoint file) starts from learned
    weights, and so takes the fine-tuning recipe (``cpu_defaults(pretrained=True)``) rather
    than the from-scratch one: a checkpoint file, a zoo entry whose trained weights ship with
    the app (``demo``), or one with ImageNet backbone weights."""
    import os

    from rnxstudio.ml.zoo import MODELS

    if os.path.isfile(str(base)):
        return True
    spec = MODELS.get(str(base))
    return spec is not None and (spec.bundled is not None or spec.weights is not None)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` (benchmarks' ``--set``) as TrainConfig keyword arguments; a VALUE
    that parses as JSON is taken as such (numbers, true/false/null, lists, objects), else as text."""
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out
