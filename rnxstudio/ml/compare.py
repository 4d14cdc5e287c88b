"""Qt-free helpers the app's fine-tuning loop needs on top of the trainer:

* :func:`evaluate_on_split` — a model (checkpoint or zoo name) on the train/val split of a COCO
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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnxstudio.ml.evaluate import EvalResult, evaluate
from rnxstudio.ml.train_config import TrainConfig, TrainingError

SUMMARY_METRICS = ("AP", "AP50", "AP75")


def _cancelled(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def evaluate_on_split(model: str | os.PathLike, coco: str | os.PathLike, images: str | os.PathLike | None = None,
                      *, split: str = "val", val_split: float = 0.2, split_seed: int = 0, device: str = "auto",
                      batch: int = 2, score_thresh: float = 0.5, pretrained_backbone: bool = False,
                      size: int | None = None, max_size: int | None = None,
                      cancel: threading.Event | None = None) -> EvalResult:
    """COCO metrics of ``model`` on one split of ``coco`` (the trainer's split function).

    Model classes are matched to the data's categories by name (classes the data lacks are not
    scored). A zoo name builds that model for the data's classes (its box head then is random:
    the "before" of a run that starts from a zoo model). Raises :class:`TrainingError` with the
    file named for unusable inputs, and when ``cancel`` is set."""
    from rnxstudio.data.images import load
    from rnxstudio.ml.predict import Predictor
    from rnxstudio.ml.train import load_data
    from rnxstudio.ml.train_data import split_train_val
    from rnxstudio.ml.train_state import val_ground_truth

    data = load_data(TrainConfig(out_dir=".", coco=coco, images=images))
    if not data.samples:
        raise TrainingError(f"{coco}: no images")
    train_idx, val_idx = split_train_val(data.samples, val_split, split_seed)
    idx = {"val": val_idx, "train": train_idx, "all": list(range(len(data.samples)))}[split]
    if not idx:
        raise TrainingError(f"{coco}: the {split} split is empty ({len(data.samples)} images, "
                            f"val fraction {val_split:g})")
    built = _load_model(model, data.class_names, pretrained_backbone, size, max_size)
    cat_of_name = dict(zip(data.class_names, data.category_ids))
    label_to_cat = {i + 1: cat_of_name.get(n) for i, n in enumerate(built.class_names)}
    predictor = Predictor(built, device=device)
    dets = {}
    for k in range(0, len(idx), max(1, batch)):
        if _cancelled(cancel):
            raise TrainingError("evaluation cancelled")
        chunk = idx[k:k + batch]
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


def _load_model(model: str | os.PathLike, class_names: list[str], pretrained_backbone: bool,
                size: int | None, max_size: int | None):
    if os.path.isfile(str(model)):
        from rnxstudio.ml.checkpoint import load_checkpoint

        try:
            return load_checkpoint(model)
        except Exception as exc:  # noqa: BLE001 - reported with the file
            raise TrainingError(f"{model}: cannot load checkpoint ({exc})") from exc
    from rnxstudio.ml.zoo import build_model

    kw = {}
    if size is not None:
        kw["min_size"] = size
    if max_size is not None:
        kw["max_size"] = max_size
    try:
        return build_model(str(model), num_classes=len(class_names), class_names=class_names,
                           pretrained_backbone=pretrained_backbone, **kw)
    except (KeyError, ValueError) as exc:
        raise TrainingError(str(exc.args[0] if exc.args else exc)) from exc


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


def estimate_epoch(cfg: TrainConfig, *, steps: int = 2, cancel: threading.Event | None = None,
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
            if _cancelled(cancel):
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
