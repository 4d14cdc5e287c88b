"""Checkpoints: safetensors weights + a JSON sidecar (``<stem>.json``) describing them.

Loading never unpickles arbitrary objects: ``.safetensors`` files are plain tensors, and
``.pth``/``.pt`` files go through ``torch.load(weights_only=True)`` with no fallback. Every failure
is a :class:`CheckpointError` whose message names the file and says what is wrong.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from rnxstudio import __version__
from rnxstudio.data.atomic import atomic_write_bytes, atomic_write_text
from rnxstudio.ml import zoo

FORMAT = "rnxstudio-checkpoint"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = (".pth", ".pt", ".bin")


class CheckpointError(Exception):
    """A checkpoint that cannot be saved or loaded; ``path`` names the file."""

    def __init__(self, path: str | os.PathLike, message: str):
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


def sidecar_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.with_name(p.stem + ".json")


# --------------------------------------------------------------------------- save


def save_checkpoint(
    path: str | os.PathLike,
    built: zoo.BuiltModel,
    *,
    recipe: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    parent: str | None = None,
    category_ids: list[int] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``built``'s weights to ``path`` (.safetensors) and its description to ``<stem>.json``.

    Both writes are atomic; the sidecar records the weights' SHA-256, so a weights file replaced
    without its sidecar (or cut short) is detected on load. Returns the weights path.
    """
    from safetensors.torch import save as st_save

    p = Path(path)
    if p.suffix != ".safetensors":
        p = p.with_name(p.name + ".safetensors")
    ids = list(category_ids) if category_ids is not None else built.category_ids
    if ids is not None and len(ids) != len(built.class_names):
        raise CheckpointError(p, f"{len(ids)} category ids for {len(built.class_names)} classes")
    if ids is None:
        ids = list(range(1, len(built.class_names) + 1))
    state = {k: v.detach().to("cpu").contiguous() for k, v in built.model.state_dict().items()}
    data = st_save(state, metadata={"format": FORMAT, "model": built.spec.name})
    kw = built.build_kwargs
    sidecar = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": built.spec.name,
        "title": built.spec.title,
        "build_kwargs": kw,
        "classes": [
            {"label": i + 1, "name": n, "category_id": int(c)}
            for i, (n, c) in enumerate(zip(built.class_names, ids, strict=True))
        ],
        "image_size": {"min_size": kw.get("min_size"), "max_size": kw.get("max_size")},
        "norm": built.norm,
        "weights_origin": built.weights_origin,
        "recipe": recipe or {},
        "metrics": metrics or {},
        "parent": parent,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "rnxstudio_version": __version__,
        "torch_version": torch.__version__,
        "weights_file": p.name,
        "weights_sha256": hashlib.sha256(data).hexdigest(),
        "extra": extra or {},
    }
    atomic_write_bytes(p, data)
    atomic_write_text(sidecar_path(p), json.dumps(sidecar, indent=2, default=str) + "\n")
    return p


# --------------------------------------------------------------------------- load


def read_sidecar(path: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar next to ``path`` as a dict, None if there is none."""
    sp = sidecar_path(path)
    if not sp.is_file():
        return None
    try:
        meta = json.loads(sp.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(sp, f"sidecar is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or "model" not in meta or "classes" not in meta:
        raise CheckpointError(sp, "not an rnxstudio checkpoint sidecar (no 'model'/'classes')")
    return meta


def _read_safetensors(p: Path, expected_sha: str | None) -> dict[str, torch.Tensor]:
    from safetensors.torch import load as st_load

    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CheckpointError(p, f"cannot read file ({exc.strerror or exc})") from exc
    if expected_sha and hashlib.sha256(data).hexdigest() != expected_sha:
        raise CheckpointError(
            p, "weights do not match the checksum in the sidecar: the file is truncated, corrupt or was "
            "replaced without its .json"
        )
    try:
        return st_load(data)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(p, f"truncated or corrupt safetensors file ({exc})") from exc


def _unpickling_detail(text: str) -> str:
    """The part of torch's refusal that says *what* was refused ("Unsupported global: GLOBAL
    posix.system …"). Its first lines advise re-running with ``weights_only=False`` (and carry
    terminal colour codes): never show that to a user who just picked an untrusted file."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    for line in text.splitlines():
        if "Unsupported" in line:
            line = line.replace("WeightsUnpickler error:", "").strip()
            return line.split(" Please use", 1)[0].rstrip(".")[:200]
    for line in text.splitlines():
        if line.strip() and not any(w in line for w in ("weights_only", "trust", "file an issue")):
            return line.strip()[:200]
    return ""


def _read_torch(p: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = _unpickling_detail(str(exc)) or type(exc).__name__
        raise CheckpointError(
            p, "refused: the file contains pickled Python objects, not just tensors (a whole pickled "
            "model or unsafe globals); only state dicts are loaded, never full unpickling. Re-save it "
            f"with torch.save(model.state_dict(), path). Detail: {first}"
        ) from exc
    except (EOFError, zipfile.BadZipFile, RuntimeError, ValueError, OSError) as exc:
        raise CheckpointError(p, f"truncated or corrupt file ({type(exc).__name__}: {exc})") from exc
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(p, f"expected a state dict (name -> tensor), found {type(obj).__name__}")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(p, "the file holds no tensors")
    return tensors


def _strip_module_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def _guess_norm(state: dict[str, torch.Tensor]) -> str:
    keys = [k for k in state if k.startswith("backbone.body.bn1.")]
    if any(k.endswith("num_batches_tracked") for k in keys):
        return "bn"
    if any(k.endswith("running_mean") for k in keys):
        return "frozen_bn"
    return "gn"


def _num_classes_in(state: dict[str, torch.Tensor], p: Path) -> int:
    w = state.get("roi_heads.box_predictor.cls_score.weight")
    if w is None:
        raise CheckpointError(p, "not a Faster R-CNN state dict (no roi_heads.box_predictor.cls_score.weight)")
    return int(w.shape[0]) - 1


def _summarise(keys: list[str], n: int = 3) -> str:
    shown = ", ".join(keys[:n])
    return f"{len(keys)} ({shown}{', ...' if len(keys) > n else ''})"


def load_checkpoint(
    path: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    model_name: str | None = None,
    class_names: list[str] | None = None,
) -> zoo.BuiltModel:
    """Load a checkpoint into a rebuilt zoo model on ``device`` (in eval mode).

    ``.safetensors`` needs its sidecar unless ``model_name`` and ``class_names`` are given. A
    ``.pth``/``.pt`` state dict (e.g. torchvision's ``model.state_dict()``) loads with its sidecar
    or with ``model_name`` (class names default to class_1..K, K read from the weights).
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(p, "file not found")
    meta = read_sidecar(p)
    if p.suffix == ".safetensors":
        if meta is None and not (model_name and class_names):
            raise CheckpointError(
                p, f"no sidecar {sidecar_path(p).name} next to it; pass the model name and class names "
                "(--arch NAME --classes a,b,c) to load bare weights"
            )
        state = _read_safetensors(p, (meta or {}).get("weights_sha256"))
    elif p.suffix in PICKLE_SUFFIXES:
        state = _read_torch(p)
    else:
        raise CheckpointError(p, f"unknown checkpoint type {p.suffix!r}: expected .safetensors, .pth or .pt")
    state = _strip_module_prefix(state)
    found = _num_classes_in(state, p)
    warnings: list[str] = []

    if meta is not None:
        kwargs = dict(meta.get("build_kwargs") or {})
        kwargs.setdefault("name", meta["model"])
        classes = meta["classes"]
        names = [str(c["name"]) for c in classes]
        category_ids = [int(c.get("category_id", i + 1)) for i, c in enumerate(classes)]
        kwargs["class_names"], kwargs["num_classes"] = names, len(names)
        kwargs.setdefault("norm", meta.get("norm"))
        # sidecars written before anchor_sizes was recorded: those models used torchvision's anchors
        kwargs.setdefault("anchor_sizes", list(zoo.LEGACY_ANCHOR_SIZES))
    else:
        if not model_name:
            raise CheckpointError(p, f"no sidecar {sidecar_path(p).name}; pass the zoo model name (--arch NAME)")
        if class_names is None:
            class_names = [f"class_{i}" for i in range(1, found + 1)]
            warnings.append(f"{p.name}: no class names given; using class_1..class_{found}")
        names = [str(c) for c in class_names]
        category_ids = list(range(1, len(names) + 1))
        kwargs = dict(name=model_name, num_classes=len(names), class_names=names, norm=_guess_norm(state))
    if found != len(names):
        raise CheckpointError(
            p, f"expected {len(names)} classes ({', '.join(names)}), checkpoint has {found}"
        )
    if kwargs["name"] not in zoo.MODELS:
        raise CheckpointError(p, f"unknown model {kwargs['name']!r}; known: {', '.join(zoo.MODELS)}")
    known = {"name", "num_classes", "class_names", "trainable_layers", "min_size", "max_size",
             "score_thresh", "nms_thresh", "detections_per_img", "norm", "anchor_sizes", "external"}
    kwargs = zoo.rebuild_kwargs({k: v for k, v in kwargs.items() if k in known})
    try:
        built = zoo.build_model(kwargs.pop("name"), **kwargs)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(p, f"cannot rebuild the model: {exc}") from exc
    _load_into(built.model, state, p)
    built.model.to(device).eval()
    built.weights_origin = f"checkpoint:{p}"
    built.warnings = warnings
    built.category_ids = category_ids
    built.info = meta or {}
    return built


def _load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], p: Path) -> None:
    own = model.state_dict()
    mismatched = [
        f"{k} {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items() if k in own and own[k].shape != v.shape
    ]
    if mismatched:
        raise CheckpointError(p, f"architecture mismatch: {_summarise(mismatched)} tensors differ in shape")
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    unexpected = [k for k in result.unexpected_keys if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_summarise(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_summarise(unexpected)}")
        raise CheckpointError(p, "architecture mismatch: " + "; ".join(parts))
