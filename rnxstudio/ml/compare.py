"""Qt-free helpers the app's fine-tuning loop needs on top of the trainer:

* :func:`evaluate_model` — the one predict-then-evaluate (``rnxstudio eval`` uses it too), and
  :func:`evaluate_on_split` — a model (checkpoint or zoo name) on the train/val split of a COCO
  file, using the trainer's own deterministic split, so "before" and "after" are measured on the
  SAME images;
* :func:`comparison_table` — metrics of several evaluations side by side (before/after, or two
  backbones);
* :func:`estimate_epoch` — time a few real training steps of a config and extrapolate to one
  epoch (the estimate the fine-tune dialog shows before a run starts).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnxstudio.core.cancel import Cancel, is_cancelled
from rnxstudio.ml.evaluate import EvalResult, evaluate
from rnxstudio.ml.train_config import TrainConfig, TrainingError
from rnxstudio.ml.train_data import DetectionData, split_train_val
from rnxstudio.ml.zoo import BuiltModel

SUMMARY_METRICS = ("AP", "AP50", "AP75")


def split_indices(data: DetectionData, split: str, val_split: float, seed: int) -> list[int]:
    """Sample positions of ``split`` ("val", "train" or "all") by the trainer's split function;
    raises :class:`TrainingError` when it is empty."""
    train_idx, val_idx = split_train_val(data.samples, val_split, seed)
    idx = {"val": val_idx, "train": train_idx, "all": list(range(len(data.samples)))}[split]
    if not idx:
        raise TrainingError(f"{data.source}: the {split} split is empty ({len(data.samples)} images, "
                            f"val fraction {val_split:g})")
    return idx


def evaluate_model(built: BuiltModel, data: DetectionData, idx: list[int], *, device: str = "auto", batch: int = 2,
                   score_thresh: float = 0.5, cancel: Cancel = None,
                   class_map: dict[str, int | None] | None = None) -> EvalResult:
    """The one predict-then-evaluate: run ``built`` on ``data.samples[idx]`` and score it with COCO
    metrics. Model classes are matched to the data's categories by ``class_map`` (a project's
    class mapping: model class -> category id, None = ignored) when given, else by name; classes
    the data lacks are not scored. Raises :class:`TrainingError` (naming the file) for an unreadable image and
    when ``cancel`` is set."""
    from rnxstudio.data.images import load
    from rnxstudio.ml.predict import Predictor
    from rnxstudio.ml.train_state import val_ground_truth

    cat_of_name = dict(zip(data.class_names, data.category_ids))
    known = set(data.category_ids)
    label_to_cat = {i + 1: (class_map.get(n) if class_map.get(n) in known else None) if class_map is not None
                    else cat_of_name.get(n) for i, n in enumerate(built.class_names)}
    predictor = Predictor(built, device=device)
    dets = {}
    for k in range(0, len(idx), max(1, batch)):
        if is_cancelled(cancel):
            raise TrainingError("evaluation cancelled")
        chunk = idx[k:k + max(1, batch)]
        try:
            outs = predictor.predict([load(data.samples[i].path) for i in chunk])
        except Exception as exc:  # noqa: BLE001 - ImageLoadError names the file
            raise TrainingError(str(exc)) from exc
        for i, d in zip(chunk, outs):
            labels = np.asarray(d.labels)
            keep = np.asarray([label_to_cat.get(int(lab)) is not None for lab in labels], dtype=bool)
            dets[data.samples[i].image_id] = {
                "boxes": np.asarray(d.boxes).reshape(-1, 4)[keep],
                "scores": np.asarray(d.scores)[keep],
                "labels": np.asarray([label_to_cat[int(lab)] for lab in labels[keep]], dtype=np.int64),
            }
    return evaluate(val_ground_truth(data, idx), dets, score_thresh=score_thresh)


def evaluate_on_split(model: str | os.PathLike, coco: str | os.PathLike, images: str | os.PathLike | None = None,
                      *, split: str = "val", val_split: float = 0.2, split_seed: int = 0, device: str = "auto",
                      batch: int = 2, score_thresh: float = 0.5, pretrained_backbone: bool = False,
                      size: int | None = None, max_size: int | None = None,
                      cancel: Cancel = None) -> EvalResult:
    """COCO metrics of ``model`` (zoo name or checkpoint) on one split of ``coco`` (the trainer's
    split function), so "before" and "after" are measured on the SAME images at the same size. A
    zoo name builds that model for the data's classes (its box head then is random: the "before"
    of a run that starts from a zoo model). Raises :class:`TrainingError` naming the file."""
    from rnxstudio.ml.resolve import ModelRefError, resolve
    from rnxstudio.ml.train import load_data

    data = load_data(TrainConfig(out_dir=".", coco=coco, images=images))
    if not data.samples:
        raise TrainingError(f"{coco}: no images")
    idx = split_indices(data, split, val_split, split_seed)
    try:
        built = resolve(model, class_names=data.class_names, pretrained_backbone=pretrained_backbone,
                        min_size=size, max_size=max_size)
    except ModelRefError as exc:
        raise TrainingError(str(exc)) from exc
    return evaluate_model(built, data, idx, device=device, batch=batch, score_thresh=score_thresh, cancel=cancel)


def comparison_table(results: dict[str, EvalResult | None]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) with one column per evaluation: AP, AP50, AP75, then AP per class.
    A missing evaluation (None) or an undefined value shows as "n/a"; a last column shows the
    change from the first to the last evaluation when there are exactly two."""
    names = list(results)
    header = ["metric"] + names + (["change"] if len(names) == 2 else [])
    classes: list[str] = []
    for r in results.values():
        for c in (r.per_class if r is not None else []):
            if c.name not in classes:
                classes.append(c.name)

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    def row(label: str, values: list[float | None]) -> list[str]:
        out = [label] + [fmt(v) for v in values]
        if len(values) == 2:
            a, b = values
            out.append("n/a" if a is None or b is None else f"{b - a:+.3f}")
        return out

    rows = []
    for m in SUMMARY_METRICS:
        rows.append(row(m, [None if r is None else r.metrics.get(m) for r in results.values()]))
    for name in classes:
        vals = []
        for r in results.values():
            c = next((c for c in (r.per_class if r is not None else []) if c.name == name), None)
            vals.append(None if c is None else c.AP)
        rows.append(row(f"AP {name}", vals))
    return header, rows


@dataclass
class EpochEstimate:
    seconds_per_step: float
    steps_per_epoch: int
    images_per_step: int
    steps_timed: int

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds_per_step * self.steps_per_epoch

    @property
    def images_per_s(self) -> float:
        return self.images_per_step / max(self.seconds_per_step, 1e-9)

    def describe(self) -> str:
        s = self.seconds_per_epoch
        when = f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"
        return (f"≈ {when} per epoch ({self.steps_per_epoch} steps × {self.seconds_per_step:.2f} s, "
                f"{self.images_per_s:.1f} images/s; measured over {self.steps_timed} steps, validation extra)")


def estimate_epoch(cfg: TrainConfig, *, steps: int = 2, cancel: Cancel = None,
                   on_note: Callable[[str], None] | None = None) -> EpochEstimate:
    """Run the first ``steps`` + 1 real training steps of ``cfg`` (same model, data, image size and
    batch) in a scratch folder and extrapolate to one epoch. The first step is not counted when
    more were timed (it pays one-time costs). Nothing is written outside the scratch folder."""
    from rnxstudio.ml.train import finetune

    scratch = Path(tempfile.mkdtemp(prefix="rnx-estimate-"))
    probe = cfg.replace(out_dir=scratch, epochs=1, minutes=None, max_steps=None, resume=None, on_checkpoint=None,
                        cancel=None, name="estimate")
    gen = finetune(probe)
    times: list[float] = []
    per_epoch = 0
    images_per_step = cfg.batch_size
    try:
        last = None
        for p in gen:
            if is_cancelled(cancel):
                raise TrainingError("estimate cancelled")
            now = time.monotonic()
            if p.kind == "start":
                if on_note is not None and p.message:
                    on_note(p.message)
                last = now
                continue
            if p.kind != "step" or not p.losses:
                last = now
                continue
            times.append(now - (last if last is not None else now))
            last = now
            per_epoch = p.total_steps
            if len(times) >= steps + 1 or p.step >= p.total_steps:
                break
    finally:
        gen.close()
        shutil.rmtree(scratch, ignore_errors=True)
    if not times:
        raise TrainingError("could not time a training step (no step completed)")
    timed = times[1:] if len(times) > 1 else times
    return EpochEstimate(seconds_per_step=sum(timed) / len(timed), steps_per_epoch=max(1, per_epoch),
                         images_per_step=images_per_step, steps_timed=len(timed))
