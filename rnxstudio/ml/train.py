"""Fine-tuning: :func:`finetune` is a generator that yields :class:`Progress` records and returns
the path of the best (or last) checkpoint. The GUI worker and the CLI drive the same generator;
``torchrun --nproc_per_node=N -m rnxstudio train ...`` runs it with DistributedDataParallel.

Cancel: set ``cfg.cancel`` (a threading.Event) or close the generator; either way a resumable
checkpoint is written. Nothing here calls sys.exit: problems raise :class:`TrainingError`.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import deque
from collections.abc import Generator
from pathlib import Path
from typing import Any

import torch

from rnxstudio.data.images import ImageLoadError
from rnxstudio.ml import optim
from rnxstudio.ml import train_save as keep
from rnxstudio.ml.train_save import set_eval_sizes as _set_eval_sizes  # noqa: F401 - used by callers
from rnxstudio.ml.train_save import set_train_sizes as _set_train_sizes
from rnxstudio.ml import train_state as ts
from rnxstudio.ml.schedule import Schedule
from rnxstudio.ml.train_config import Progress, TrainConfig, TrainingError
from rnxstudio.ml.train_state import store_recorder  # noqa: F401 - part of this module's API
from rnxstudio.ml.weight_average import WeightAverage, averaged
from rnxstudio.ml.train_data import (
    Augment,
    DataError,
    DetectionData,
    DetectionDataset,
    GroupedBatchSampler,
    collate,
    from_labelset,
    load_coco,
    split_train_val,
)

__all__ = ["finetune", "TrainConfig", "Progress", "TrainingError", "load_data", "default_trainable_layers",
           "store_recorder"]



def load_data(cfg: TrainConfig) -> DetectionData:
    if cfg.labelset is not None:
        return from_labelset(cfg.labelset, cfg.images)
    if cfg.coco is None:
        raise TrainingError("no training data: give a COCO file (coco=...) or a LabelSet (labelset=...)")
    try:
        return load_coco(cfg.coco, cfg.images)
    except DataError as exc:
        raise TrainingError(str(exc)) from exc


def default_trainable_layers(device: torch.device, random_init: bool) -> int:
    """All stages from random init; otherwise 3 on GPU and 2 on CPU (cheaper steps)."""
    if random_init:
        return 5
    return 3 if device.type == "cuda" else 2


def _build(cfg: TrainConfig, data: DetectionData, device: torch.device, resume_state: dict | None):
    """Zoo model or checkpoint -> (BuiltModel, parent checkpoint path or None, messages)."""
    from rnxstudio.ml.heads import init_predictor_from
    from rnxstudio.ml.resolve import ModelRefError, resolve

    notes: list[str] = []
    source = cfg.resume if cfg.resume is not None else cfg.model
    is_ckpt = cfg.resume is not None or os.path.isfile(str(source))
    if is_ckpt:
        try:
            built = resolve(source)
        except ModelRefError as exc:
            raise TrainingError(f"{source}: cannot load checkpoint ({exc})") from exc
        if list(built.class_names) != data.class_names:
            if resume_state is not None:
                raise TrainingError(f"{source}: classes {built.class_names} differ from the data's "
                                    f"{data.class_names}; cannot resume")
            built, rows = init_predictor_from(built, data.class_names)
            notes.append(f"box predictor for classes {', '.join(data.class_names)}: {rows.message()} "
                         "(backbone, FPN, RPN, box head kept)")
        parent = str(source)
        random_init = False
    else:
        kw: dict[str, Any] = dict(cfg.model_kwargs)
        kw.setdefault("min_size", cfg.size)
        kw.setdefault("max_size", cfg.max_size)
        try:
            built = resolve(cfg.model, class_names=data.class_names, pretrained_backbone=cfg.pretrained_backbone,
                            trainable_layers=cfg.trainable_layers, **kw)
        except ModelRefError as exc:
            raise TrainingError(str(exc)) from exc
        notes += built.warnings
        origin = built.weights_origin  # a zoo entry with shipped weights ("demo") is its checkpoint's child
        parent = origin.split(":", 1)[1] if origin.startswith("checkpoint:") else None
        random_init = built.is_random
    if resume_state is not None:
        layers = int(resume_state["trainable_layers"])
    elif cfg.trainable_layers is not None:
        layers = cfg.trainable_layers
    else:
        layers = default_trainable_layers(device, random_init)
    body = optim.backbone_body(built.model)
    if body is not None:
        optim.set_trainable_stages(body, layers)
    built.build_kwargs["trainable_layers"] = layers
    return built, parent, notes, layers


def _set_sampling(model: torch.nn.Module, cfg: TrainConfig) -> None:
    """Apply the training-time sampling settings (they change no weights and no inference)."""
    if cfg.rpn_batch_per_image is not None:
        model.rpn.fg_bg_sampler.batch_size_per_image = int(cfg.rpn_batch_per_image)
    if cfg.roi_batch_per_image is not None:
        model.roi_heads.fg_bg_sampler.batch_size_per_image = int(cfg.roi_batch_per_image)
    if cfg.rpn_pre_nms_train is not None:
        model.rpn._pre_nms_top_n["training"] = int(cfg.rpn_pre_nms_train)
    if cfg.rpn_post_nms_train is not None:
        model.rpn._post_nms_top_n["training"] = int(cfg.rpn_post_nms_train)


class _Trainer:
    """State of one run; :func:`finetune` is its generator front-end."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.clock = cfg.clock or time.monotonic
        self.ctx, self.device = ts.dist_setup(cfg.device)
        try:
            self._setup(cfg)
        except BaseException:
            ts.dist_teardown(self.ctx)
            raise

    def _setup(self, cfg: TrainConfig) -> None:
        self.out = Path(cfg.out_dir)
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        self.resume_state = ts.load_train_state(cfg.resume) if cfg.resume is not None else None
        torch.manual_seed(cfg.seed)
        self.data = load_data(cfg)
        if not self.data.samples:
            raise TrainingError(f"{self.data.source}: no images to train on")
        missing = [s.path for s in self.data.samples if not os.path.isfile(s.path)]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise TrainingError(f"{len(missing)} image files not found: {', '.join(missing[:3])}{more} "
                                f"(is the image root right? {cfg.images or 'default: the COCO file folder'})")
        self.train_idx, self.val_idx = split_train_val(self.data.samples, cfg.val_split, cfg.split_seed)
        self.built, self.parent, self.notes, self.layers = _build(cfg, self.data, self.device, self.resume_state)
        self.model = self.built.model.to(self.device)
        _set_sampling(self.model, cfg)
        self.cuda = self.device.type == "cuda"
        self.amp = self.cuda if cfg.amp is None else (cfg.amp and self.cuda)
        # the weights go channels-last; the model's transform batches the 3-D images into one
        # NCHW tensor and the first convolution carries the layout on (3-D tensors have none)
        self.channels_last = self.cuda if cfg.channels_last is None else bool(cfg.channels_last)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        tr = self.model.transform
        self.size = int(cfg.size or (tr.min_size[-1] if isinstance(tr.min_size, (tuple, list)) else tr.min_size))
        self.max_size = int(cfg.max_size or tr.max_size)
        aug = Augment(hflip=cfg.hflip, brightness=cfg.photometric, contrast=cfg.photometric,
                      saturation=cfg.photometric)
        cache = cfg.cache_mb << 20
        self.train_ds = DetectionDataset([self.data.samples[i] for i in self.train_idx], augment=aug,
                                         seed=cfg.seed, cache_bytes=cache)
        self.val_ds = DetectionDataset(self.data.samples, augment=None, cache_bytes=cache // 2)
        self.sampler = GroupedBatchSampler([self.train_ds.aspect(i) for i in range(len(self.train_ds))],
                                           cfg.batch_size, seed=cfg.seed, rank=self.ctx.rank,
                                           world_size=self.ctx.world_size)
        self.steps_per_epoch = len(self.sampler)
        if self.steps_per_epoch == 0:
            raise TrainingError("no training images after the train/val split")
        self.images_per_step = cfg.batch_size * self.ctx.world_size
        self.base_lr = optim.base_lr(cfg, self.images_per_step)
        self.ddp = None
        if self.ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.cuda else None,
                                               find_unused_parameters=True)
        self.optimizer = optim.make_optimizer(self.model, cfg, self.base_lr)
        self.ema = WeightAverage(cfg.ema_horizon) if cfg.ema_horizon else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.micro = cfg.batch_size
        self.step = 0
        self.epoch = 0
        self.total_steps: int | None = self._planned_total()
        self.schedule: Schedule | None = Schedule.from_state(None, self.total_steps)
        self.best_map = -1.0
        self.best_path: Path | None = None
        self.last_path: Path | None = None
        self.last_saved_step = -1
        self.last_saved_at = self.clock()  # periodic checkpoints count from the start
        self.evaluated_step = -1
        self.eval_period = cfg.eval_every  # epochs between validation passes; a --minutes run adapts it (ADR 0027)
        self.last_metrics: dict[str, Any] = {}
        self.consecutive_nonfinite = 0
        if self.resume_state is not None:
            self._restore(self.resume_state)

    # ---------------------------------------------------------------- planning

    def _planned_total(self) -> int | None:
        cfg = self.cfg
        cands = []
        if cfg.epochs is not None:
            cands.append(cfg.epochs * self.steps_per_epoch)
        if cfg.max_steps is not None:
            cands.append(cfg.max_steps)
        if not cands and cfg.minutes is None:
            cands.append(12 * self.steps_per_epoch)  # nothing given: 12 epochs
        return max(1, min(cands)) if cands else None  # None: fixed after timing (minutes)

    def lr_at(self, step: int) -> float:
        if self.schedule is None:  # still timing a --minutes run: start of the warmup
            return self.base_lr * self.cfg.warmup_factor
        return self.base_lr * self.schedule.factor(step, self.cfg)

    def set_total(self, total: int) -> None:
        """(Re-)plan the run's length from the current step on; the rate stays continuous
        (:mod:`rnxstudio.ml.schedule`), whoever re-plans and whenever."""
        if self.schedule is None:
            self.schedule = Schedule.planned_at(self.step, total)
        else:
            self.schedule.replan(self.step, total)
        self.total_steps = self.schedule.total

    # ---------------------------------------------------------------- state

    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step, "epoch": self.epoch, "total_steps": self.total_steps,
            "schedule": self.schedule.state() if self.schedule is not None else None,
            "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
            "rng": ts.rng_state(), "best_map": self.best_map,
            "best_path": str(self.best_path) if self.best_path else "",
            "micro": self.micro, "trainable_layers": self.layers, "class_names": list(self.data.class_names),
            "category_ids": list(self.data.category_ids), "base_lr": self.base_lr,
            "elapsed_s": self.elapsed_before + (self.clock() - self.t0 if hasattr(self, "t0") else 0.0),
            "ema": self.ema.state_dict() if self.ema is not None else None,
        }

    def _restore(self, st: dict[str, Any]) -> None:
        if list(st["class_names"]) != self.data.class_names:
            raise TrainingError(f"{self.cfg.resume}: trained on classes {st['class_names']}, the data has "
                                f"{self.data.class_names}; cannot resume")
        self.optimizer.load_state_dict(st["optimizer"])
        self.scaler.load_state_dict(st["scaler"])
        self.step, self.epoch = int(st["step"]), int(st["epoch"])
        self.total_steps = None if st["total_steps"] is None else int(st["total_steps"])
        self.schedule = Schedule.from_state(st.get("schedule"), self.total_steps)
        self.best_map = float(st["best_map"])
        self.best_path = Path(st["best_path"]) if st["best_path"] else None
        self.micro = int(st["micro"])
        self.base_lr = float(st["base_lr"])
        self.elapsed_before = float(st.get("elapsed_s", 0.0))
        if self.ema is not None and st.get("ema"):
            self.ema.load_state_dict(st["ema"], self.model)
        ts.set_rng_state(st["rng"])

    elapsed_before = 0.0


def _compute_losses(model: torch.nn.Module, images: list, targets: list) -> dict[str, torch.Tensor]:
    """One forward pass in training mode (a seam for tests: patch it to inject NaN)."""
    return model(images, targets)


def _forward_backward(tr: _Trainer, images: list, targets: list) -> dict[str, float] | None:
    """Forward + backward over the batch in micro-batches of ``tr.micro`` (gradients
    accumulate). Returns the batch's loss terms, or None when a loss was non-finite on any rank
    (gradients are then cleared and the step is skipped)."""
    n = len(images)
    sums: dict[str, float] = {}
    model = tr.ddp or tr.model
    for k in range(0, n, tr.micro):
        imgs = [im.to(tr.device, non_blocking=True) for im in images[k:k + tr.micro]]
        tgts = [{key: v.to(tr.device) for key, v in t.items()} for t in targets[k:k + tr.micro]]
        with torch.autocast(tr.device.type, dtype=torch.float16, enabled=tr.amp):
            loss_dict = _compute_losses(model, imgs, tgts)
        loss = sum(loss_dict.values()) * (len(imgs) / n)
        finite = bool(torch.isfinite(loss).item())
        if not ts.all_true(finite, tr.ctx, tr.device):
            tr.optimizer.zero_grad(set_to_none=True)
            return None
        tr.scaler.scale(loss).backward()
        for key, v in loss_dict.items():
            sums[key] = sums.get(key, 0.0) + float(v.detach()) * (len(imgs) / n)
    return sums


def _oom_types() -> tuple[type[BaseException], ...]:
    return (torch.cuda.OutOfMemoryError,)


def _train_step(tr: _Trainer, images: list, targets: list) -> tuple[dict[str, float] | None, str]:
    """One optimiser step with OOM recovery: on CUDA out-of-memory the micro-batch is halved
    (then, at 1 image, the image size cut by a quarter) and the step retried once."""
    msg = ""
    for attempt in (0, 1):
        try:
            losses = _forward_backward(tr, images, targets)
            break
        except _oom_types() as exc:
            tr.optimizer.zero_grad(set_to_none=True)
            if tr.cuda:
                torch.cuda.empty_cache()
            if attempt == 1:
                raise TrainingError(f"out of memory at step {tr.step + 1} even after reducing: {msg} "
                                    f"({exc}); lower --batch or --size") from exc
            if tr.micro > 1:
                tr.micro = max(1, tr.micro // 2)
                msg = f"out of memory: batch reduced to {tr.micro} images per pass (gradients accumulated)"
            else:
                tr.size = max(128, int(tr.size * 0.75) // 32 * 32)
                tr.max_size = max(tr.size, int(tr.max_size * 0.75))
                tr.model.transform.min_size = (tr.size,)
                tr.model.transform.max_size = tr.max_size
                msg = f"out of memory: image size reduced to {tr.size} px"
    if losses is None:
        return None, msg
    tr.scaler.unscale_(tr.optimizer)
    if tr.cfg.clip_grad_norm:
        params = [p for g in tr.optimizer.param_groups for p in g["params"]]
        torch.nn.utils.clip_grad_norm_(params, tr.cfg.clip_grad_norm)
    tr.scaler.step(tr.optimizer)
    tr.scaler.update()
    tr.optimizer.zero_grad(set_to_none=True)
    return losses, msg


def finetune(cfg: TrainConfig) -> Generator[Progress, None, Path]:
    """Train per ``cfg``; yield a :class:`Progress` per step (plus start/eval/checkpoint/done
    records); return the best checkpoint by val mAP (the last one when there is no val set)."""
    tr = _Trainer(cfg)
    try:
        return (yield from _run(tr))
    finally:
        ts.dist_teardown(tr.ctx)


def _progress(tr: _Trainer, kind: str, losses: dict[str, float] | None = None, **kw: Any) -> Progress:
    return Progress(step=tr.step, epoch=tr.epoch, total_steps=tr.total_steps or 0, losses=losses or {},
                    lr=tr.optimizer.param_groups[0]["lr"], images_per_s=kw.pop("ips", 0.0),
                    eta_s=kw.pop("eta", 0.0), kind=kind, **kw)


def _evaluate_and_keep(tr: _Trainer, *, final: bool) -> tuple[Any, Path | None, str]:
    """:func:`train_save.evaluate_and_keep` on the weight average when there is one (validation,
    ``best`` and ``last`` all hold it; the trainer state keeps the live weights beside it), timed
    so that a --minutes run re-plans with what evaluation really costs."""
    t0 = tr.clock()
    with averaged(tr.ema, tr.model):
        out = keep.evaluate_and_keep(tr, final=final)
    tr.eval_seconds = tr.clock() - t0
    return out


def _eval_cost_per_step(tr: _Trainer, step_s: float) -> float:
    """Validation time spread over the training steps, for planning a --minutes run: inference
    is taken as ~40% of a training step per image."""
    if not tr.val_idx:
        return 0.0
    per_image = step_s / max(1, tr.cfg.batch_size) * 0.4
    one_eval = len(tr.val_idx) / tr.ctx.world_size * per_image
    return one_eval / (tr.steps_per_epoch * max(1, tr.eval_period))


def _run(tr: _Trainer) -> Generator[Progress, None, Path]:
    cfg = tr.cfg
    tr.model.train()
    _set_train_sizes(tr)
    tr.t0 = tr.clock()
    start_msg = (f"{len(tr.train_idx)} train / {len(tr.val_idx)} val images, {len(tr.data.class_names)} classes, "
                 f"{tr.steps_per_epoch} steps/epoch, lr {tr.base_lr:.3g}, trainable stages {tr.layers}, "
                 f"device {tr.device}{' (AMP)' if tr.amp else ''}"
                 f"{f', {tr.ctx.world_size} processes' if tr.ctx.distributed else ''}")
    notes = [start_msg] + tr.notes + ([tr.data.dropped_summary()] if tr.data.dropped else [])
    if tr.resume_state is not None:
        notes.append(f"resumed from {cfg.resume} at step {tr.step}")
    yield _progress(tr, "start", message="; ".join(notes))
    times: deque[float] = deque(maxlen=20)
    deadline = tr.t0 + cfg.minutes * 60 - tr.elapsed_before if cfg.minutes is not None else None
    timed: list[float] = []
    replan = tr.total_steps is None  # a pure --minutes run (a resumed one keeps its plan)
    last_eval_epoch = tr.epoch
    stopped = ""
    try:
        while tr.total_steps is None or tr.step < tr.total_steps:
            if cfg.epochs is not None and tr.epoch >= cfg.epochs:
                break
            tr.sampler.set_epoch(tr.epoch)
            tr.train_ds.set_epoch(tr.epoch)
            skip = tr.step - tr.epoch * tr.steps_per_epoch  # batches already done (resume mid-epoch)
            for b, batch_idx in enumerate(tr.sampler):
                if b < skip:
                    continue
                if tr.total_steps is not None and tr.step >= tr.total_steps:
                    break
                if cfg.cancel is not None and cfg.cancel.is_set():
                    stopped = "cancelled"
                    break
                if deadline is not None and tr.clock() > deadline and tr.step > 0:
                    stopped = "time budget reached"
                    break
                t_step = tr.clock()
                try:
                    images, targets = collate([tr.train_ds[i] for i in batch_idx])
                except (DataError, ImageLoadError) as exc:
                    raise TrainingError(str(exc)) from exc
                lr = tr.lr_at(tr.step)
                optim.set_lr(tr.optimizer, lr)
                losses, msg = _train_step(tr, list(images), list(targets))
                if losses is None:
                    tr.consecutive_nonfinite += 1
                    msg = (f"non-finite loss at step {tr.step + 1}: step skipped "
                           f"({tr.consecutive_nonfinite} in a row)")
                    if tr.consecutive_nonfinite >= cfg.max_nonfinite:
                        raise TrainingError(f"stopped: {tr.consecutive_nonfinite} non-finite losses in a row "
                                            f"(last at step {tr.step + 1}); lower the learning rate "
                                            f"(now {lr:.3g}) or check the labels. No checkpoint was written "
                                            "from the diverged weights.")
                    yield _progress(tr, "step", message=msg)
                    continue
                tr.consecutive_nonfinite = 0
                tr.step += 1
                if tr.ema is not None:
                    tr.ema.update(tr.model, tr.total_steps)
                dt = tr.clock() - t_step
                times.append(dt)
                if replan and tr.step <= optim.REPLAN_STEP:  # --minutes: plan the step count from timings
                    timed.append(dt)
                    cap = cfg.epochs * tr.steps_per_epoch if cfg.epochs is not None else None
                    planned = optim.plan_steps(tr.step, timed, max(0.0, (deadline or 0) - tr.clock()),
                                               lambda per: _eval_cost_per_step(tr, per), tr.total_steps, cap)
                    if planned is not None:
                        word = "planned" if tr.total_steps is None else "re-planned"
                        tr.set_total(planned)
                        msg = (msg + "; " if msg else "") + f"{word} {planned} steps for {cfg.minutes:g} min"
                losses = ts.mean_across(losses, tr.ctx, tr.device)
                avg = sum(times) / len(times)
                remaining = (tr.total_steps - tr.step) if tr.total_steps else 0
                yield _progress(tr, "step", losses, ips=tr.images_per_step / max(avg, 1e-9), eta=remaining * avg,
                                message=msg)
            if stopped:
                break
            if tr.step >= (tr.epoch + 1) * tr.steps_per_epoch:
                tr.epoch += 1
                at_end = tr.total_steps is not None and tr.step >= tr.total_steps
                if tr.epoch - last_eval_epoch >= tr.eval_period or at_end:
                    last_eval_epoch = tr.epoch
                    result, path, note = _evaluate_and_keep(tr, final=at_end)
                    if replan and times and not at_end:
                        step_s = statistics.median(times)
                        tr.eval_period = optim.eval_period(tr.eval_seconds, step_s, tr.steps_per_epoch,
                                                           cfg.eval_every, cfg.eval_share)
                        cap = cfg.epochs * tr.steps_per_epoch if cfg.epochs is not None else None
                        planned = optim.plan_after_eval(
                            tr.step, step_s, tr.eval_seconds, max(0.0, deadline - tr.clock()),
                            tr.steps_per_epoch * tr.eval_period, tr.total_steps, cap)
                        if planned is not None and planned != tr.total_steps:
                            tr.set_total(planned)  # the learning rate stays continuous (ml/schedule.py)
                            replanned = f"re-planned {tr.total_steps} steps for {cfg.minutes:g} min"
                            note = f"{note}; {replanned}" if note else replanned
                    scores = (f", val AP {result.map:.3f} AP50 {result.metrics['AP50'] or 0:.3f}"
                              if result is not None else "")
                    yield _progress(tr, "checkpoint", eval=result, checkpoint=str(path) if path else None,
                                    message=f"epoch {tr.epoch}{scores}" + (f"; {note}" if note else ""))
            elif tr.total_steps is not None and tr.step >= tr.total_steps:
                break
    except GeneratorExit:
        keep.save_last(tr)  # the caller closed us: leave a resumable checkpoint
        raise
    if stopped == "cancelled":
        path = keep.save_last(tr)
        yield _progress(tr, "cancelled", checkpoint=str(path), message=f"cancelled at step {tr.step}: "
                        f"resume with --resume {path}")
        return path
    if tr.last_saved_step != tr.step:  # ended mid-epoch, or its last validation wrote no `last`
        if tr.evaluated_step == tr.step:
            with averaged(tr.ema, tr.model):  # the weights that validation just scored
                path = keep.save_last(tr)
            note = f"saved {path.name}"
            result = None
        else:
            result, path, note = _evaluate_and_keep(tr, final=True)
        yield _progress(tr, "checkpoint", eval=result, checkpoint=str(path), message=note)
    final = tr.best_path or tr.last_path
    assert final is not None
    yield _progress(tr, "done", checkpoint=str(final), message=(f"{stopped}; " if stopped else "")
                    + f"done after {tr.step} steps; best checkpoint {final.name}")
    return final
