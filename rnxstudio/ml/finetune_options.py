"""What a fine-tune run of a project is asked to do, as plain data, and how it becomes a
TrainConfig: the GUI's Fine-tune dialog fills these options, and so does ``rnxstudio bench loop``
(its simulated annotator fine-tunes through the same path, :mod:`rnxstudio.ml.project_run`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FinetuneOptions:
    """The user's choices. ``base`` is a zoo name or a checkpoint path. Length: ``epochs`` or
    ``minutes`` (one of them), optionally capped by ``max_steps`` (tests, quick tries).
    ``lr`` None means the device default (per-16-images rate scaled by the batch)."""

    base: str = "resnext_tiny_fpn"
    selection: str = "verified"  # "verified" | "labelled" (see data.snapshot.SELECTIONS)
    trainable_layers: int = 5
    size: int = 320
    max_size: int | None = None
    epochs: int | None = 12
    minutes: float | None = None
    max_steps: int | None = None
    batch_size: int = 4
    lr: float | None = None
    device: str = "auto"
    pretrained_backbone: bool = True
    val_split: float = 0.2
    extra: dict[str, Any] = field(default_factory=dict)  # further TrainConfig fields

    def to_config(self, *, out_dir: str | Path, coco: str | Path, images: str | Path, name: str = "model"):
        """A TrainConfig with the device's recommended settings under these choices."""
        from rnxstudio.ml.train_config import TrainConfig, recommended_config
        from rnxstudio.ml.train_state import resolve_device

        device = resolve_device(self.device)
        rec = recommended_config(str(device), pretrained=self.pretrained_backbone)
        rec.pop("model", None)
        rec.update(size=self.size, max_size=self.max_size or int(self.size * 5 / 3),
                   batch_size=self.batch_size, trainable_layers=self.trainable_layers)
        rec.update(self.extra)
        return TrainConfig(out_dir=out_dir, coco=coco, images=images, model=self.base, epochs=self.epochs,
                           minutes=self.minutes, max_steps=self.max_steps, lr=self.lr,
                           device=str(device) if device.type != "cuda" else "auto",
                           pretrained_backbone=self.pretrained_backbone, val_split=self.val_split, name=name,
                           **rec)


def default_lr(device: str, batch_size: int, *, pretrained: bool = True) -> float:
    """The learning rate the trainer uses when none is given (shown in the dialog)."""
    from rnxstudio.ml.train_config import ADAMW_LR_PER_16, SGD_LR_PER_16, recommended_config

    rec = recommended_config(device, pretrained=pretrained)
    per16 = rec.get("lr_per_16") or (ADAMW_LR_PER_16 if rec.get("optimizer") == "adamw" else SGD_LR_PER_16)
    return float(per16) * batch_size / 16


def recommended_options(device: str, *, pretrained: bool | None = None, base: str | None = None) -> FinetuneOptions:
    """Dialog defaults for ``device`` (from :func:`rnxstudio.ml.train_config.recommended_config`).

    ``base`` (a zoo name or checkpoint; None: the device's recommended model) is what the run
    starts from: the demo project's shipped ``demo`` detector, say. ``pretrained`` None: whether
    that base starts from learned weights (:func:`rnxstudio.ml.train_config.starts_trained`) —
    the tiny CPU model has none, so it gets the from-scratch recipe (all stages trainable, the
    higher learning rate) that the shapes benchmark measured; a trained base gets the
    fine-tuning one."""
    from rnxstudio.ml.train_config import recommended_config, starts_trained

    if base is None:
        base = recommended_config(device, pretrained=False)["model"]
    if pretrained is None:
        pretrained = starts_trained(base)
    rec = recommended_config(device, pretrained=pretrained)
    return FinetuneOptions(base=base, trainable_layers=int(rec.get("trainable_layers") or 3),
                           size=int(rec.get("size") or 320), max_size=rec.get("max_size"),
                           batch_size=int(rec.get("batch_size") or 4), device=device, pretrained_backbone=pretrained)
