"""Pieces of the trainer that are not the loop: distributed set-up, device choice, RNG state,
the resumable ``<stem>.train.pt`` state file, and validation (gathered across ranks).

The trainer state holds tensors and plain Python types only, so it loads with
``torch.load(..., weights_only=True)``. Model weights themselves go through
:func:`rnxstudio.ml.checkpoint.save_checkpoint` (safetensors + JSON sidecar).
"""

from __future__ import annotations

import io
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnxstudio.data.atomic import atomic_write_bytes
from rnxstudio.ml.evaluate import EvalResult, evaluate
from rnxstudio.ml.train_data import DetectionData

TRAIN_STATE_SUFFIX = ".train.pt"
STATE_VERSION = 1


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """"auto"/"cuda" -> this process's local-rank GPU when CUDA is available; everything else
    (and "auto" without CUDA) goes through :func:`rnxstudio.ml.devices.pick_device`."""
    from rnxstudio.ml.devices import pick_device

    if spec in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return pick_device(spec)


def dist_setup(device_spec: str) -> tuple[DistContext, torch.device]:
    """Initialise torch.distributed when launched by torchrun (WORLD_SIZE > 1): NCCL on GPU,
    gloo on CPU. Returns the context and this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_spec, local)
    if world <= 1:
        return DistContext(), device
    import torch.distributed as dist

    here = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        here = True
    return DistContext(dist.get_rank(), dist.get_world_size(), local, here), device


def dist_teardown(ctx: DistContext) -> None:
    if ctx.initialized_here:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def all_true(flag: bool, ctx: DistContext, device: torch.device) -> bool:
    """True only if ``flag`` is true on every rank (so all ranks skip a step together)."""
    if not ctx.distributed:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0.5)


def mean_across(values: dict[str, float], ctx: DistContext, device: torch.device) -> dict[str, float]:
    if not ctx.distributed or not values:
        return values
    import torch.distributed as dist

    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], device=device, dtype=torch.float64)
    dist.all_reduce(t)
    t /= ctx.world_size
    return dict(zip(keys, t.tolist()))


# --------------------------------------------------------------------------- RNG state


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "python_gauss": random.getstate()[2],
        "numpy_keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_has_gauss"], state["numpy_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- trainer state file


def train_state_path(weights_path: str | os.PathLike) -> Path:
    p = Path(weights_path)
    return p.with_name(p.stem + TRAIN_STATE_SUFFIX)


def save_train_state(weights_path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically write the resumable state next to the weights file."""
    buf = io.BytesIO()
    torch.save({"version": STATE_VERSION, **state}, buf)
    path = train_state_path(weights_path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_train_state(weights_path: str | os.PathLike) -> dict[str, Any]:
    path = train_state_path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"{weights_path}: no trainer state {path.name} next to it; cannot resume "
                                "(start a new run from this checkpoint with --model instead)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: trainer state version {state.get('version')} is not supported")
    return state


# --------------------------------------------------------------------------- validation


def val_ground_truth(data: DetectionData, idx: list[int]) -> dict[str, Any]:
    """COCO ground truth for the validation subset (only the boxes the trainer keeps)."""
    images, anns = [], []
    for i in idx:
        s = data.samples[i]
        images.append({"id": s.image_id, "width": s.width, "height": s.height, "file_name": s.path})
        difficult = s.difficult.tolist() if s.difficult is not None else [False] * len(s.labels)
        for (x1, y1, x2, y2), lab, dif in zip(s.boxes.tolist(), s.labels.tolist(), difficult):
            anns.append({"id": len(anns) + 1, "image_id": s.image_id, "category_id": data.category_ids[lab - 1],
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0,
                         "difficult": int(dif)})  # difficult / crowd: not scored (ml.evaluate)
        for lab, (x1, y1, x2, y2) in s.crowd:
            anns.append({"id": len(anns) + 1, "image_id": s.image_id, "category_id": data.category_ids[lab - 1],
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 1})
    cats = [{"id": c, "name": n} for c, n in data.categories]
    return {"images": images, "annotations": anns, "categories": cats}


@torch.no_grad()
def run_validation(model: torch.nn.Module, dataset, idx: list[int], data: DetectionData, device: torch.device,
                   ctx: DistContext, *, batch_size: int = 4, score_thresh: float = 0.5) -> EvalResult | None:
    """Predict on this rank's share of ``idx`` (dataset positions), gather the detections on
    every rank and evaluate. Returns None when there is no validation data."""
    if not idx:
        return None
    was_training = model.training
    model.eval()
    mine = idx[ctx.rank::ctx.world_size]
    dets: dict[int, dict[str, list]] = {}
    try:
        for k in range(0, len(mine), batch_size):
            chunk = mine[k:k + batch_size]
            imgs = [dataset[i][0].to(device) for i in chunk]
            outs = model(imgs)
            for i, o in zip(chunk, outs):
                labels = [data.category_ids[int(lab) - 1] for lab in o["labels"].tolist()]
                dets[data.samples[i].image_id] = {"boxes": o["boxes"].float().cpu().tolist(),
                                                  "scores": o["scores"].float().cpu().tolist(), "labels": labels}
    finally:
        model.train(was_training)
    if ctx.distributed:
        import torch.distributed as dist

        parts: list[Any] = [None] * ctx.world_size
        dist.all_gather_object(parts, dets)
        dets = {k: v for p in parts for k, v in p.items()}
    gt = val_ground_truth(data, idx)
    fixed = {k: {"boxes": np.asarray(v["boxes"], dtype=float).reshape(-1, 4), "scores": np.asarray(v["scores"]),
                 "labels": np.asarray(v["labels"], dtype=np.int64)} for k, v in dets.items()}
    return evaluate(gt, fixed, score_thresh=score_thresh)


def store_recorder(store: Any, *, name: str = "fine-tuned", best_only: bool = True):
    """An ``on_checkpoint`` hook that records checkpoints in a project (a session's or store's
    ``add_model``) with their metrics and recipe. A run keeps one ``<name>_best`` file that later
    improvements overwrite, so the first improvement adds a model record and later ones update
    it (``update_model``, when the target has one) instead of adding records for a file that
    no longer holds their weights."""
    recorded: dict[str, Any] = {}

    def record(path: Path, info: dict[str, Any]) -> None:
        if best_only and not info.get("best"):
            return
        from rnxstudio.ml.checkpoint import read_sidecar

        meta = read_sidecar(path) or {}
        classes = [c["name"] for c in meta.get("classes", [])]
        label = f"{name} (epoch {info['epoch']})"
        metrics, recipe = info.get("metrics") or {}, info.get("recipe") or {}
        previous = recorded.get(str(path))
        if previous is not None and hasattr(store, "update_model"):
            store.update_model(previous, name=label, metrics=metrics)
            return
        rec = store.add_model(path, name=label, classes=classes, metrics=metrics, recipe=recipe)
        recorded[str(path)] = getattr(rec, "id", None)

    return record
