"""Forward-hook feature capture on an already loaded detector.

:class:`FeatureCapture` registers forward hooks on the live model (no copy, no extra forward):
whatever forward runs while it is attached records the stem, res2..res5, the FPN levels and the
RPN objectness per level as detached CPU float32 numpy arrays. ``remove()`` (or leaving the
``with`` block) takes every hook off again. :func:`inspect_image` runs one inference with capture
and returns detections plus feature maps: the GUI calls it on its inference thread.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from rnxstudio.ml.tensors import image_to_tensor
from rnxstudio.ml.introspect.stages import (
    backbone_of,
    has_fpn,
    level_name,
    trunk_stages,
    unwrap_model,
)


@dataclass
class FeatureMap:
    """One captured map for a single image: ``data`` is (C, H, W) float32 on the CPU.

    ``stride`` is (sy, sx) in pixels of the transformed batch image (resized, then padded);
    ``kind`` is "stem", "res", "fpn" or "rpn" (RPN maps hold sigmoid objectness, one channel per
    anchor shape).
    """

    name: str
    kind: str
    data: np.ndarray
    stride: tuple[float, float]

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.data.shape
        return int(c), int(h), int(w)


@dataclass
class Detections:
    """Post-processed detections in original (upright) image pixels."""

    boxes: np.ndarray  # (N, 4) float32 xyxy
    scores: np.ndarray  # (N,) float32
    labels: np.ndarray  # (N,) int64, model label ids (0 = background in torchvision)
    class_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


@dataclass
class InspectionResult:
    """What :func:`inspect_image` returns; all plain numpy / tuples, safe to hand to a GUI thread.

    ``original_size`` (h, w) of the upright input; ``image_size`` (h, w) after the model's resize;
    ``batch_size`` (h, w) of the padded batch tensor the backbone saw; ``scale`` (sy, sx) =
    resized / original.
    """

    detections: Detections
    features: "OrderedDict[str, FeatureMap]"
    original_size: tuple[int, int]
    image_size: tuple[int, int]
    batch_size: tuple[int, int]
    scale: tuple[float, float]


def _to_numpy(t: torch.Tensor, batch_index: int) -> np.ndarray:
    # copy: in-place ops later in the forward (ReLU(inplace)) must not change what we stored
    # (C-contiguous even for channels_last activations; float32 even under AMP)
    return np.ascontiguousarray(t[batch_index].detach().to("cpu", torch.float32, copy=True).numpy())


class FeatureCapture:
    """Forward hooks on a live detector; use as a context manager or call :meth:`remove`.

    ``stages`` limits what is stored (names as in :mod:`.stages`, e.g. ``{"res5", "P3"}``; an RPN
    level is stored when ``"rpn/<level>"`` or ``"rpn"`` is listed); ``None`` stores everything.
    Only the image at ``batch_index`` of each forward is kept; a new forward overwrites.
    """

    def __init__(self, model_or_built: object, *, stages: Iterable[str] | None = None, batch_index: int = 0):
        self.model = unwrap_model(model_or_built)
        self.batch_index = batch_index
        self._wanted = None if stages is None else set(stages)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._trunk: OrderedDict[str, np.ndarray] = OrderedDict()
        self._levels: OrderedDict[str, np.ndarray] = OrderedDict()  # torchvision key -> map
        self._rpn: list[np.ndarray] = []
        self._level_keys: list[str] = []
        self._batch_hw: tuple[int, int] | None = None
        self._image_sizes: list[tuple[int, int]] | None = None
        self._fpn = has_fpn(self.model)
        self._attach()

    # ------------------------------------------------------------------ hooks
    def _want(self, name: str) -> bool:
        return self._wanted is None or name in self._wanted

    def _attach(self) -> None:
        for name, module in trunk_stages(self.model).items():
            if self._want(name):
                self._handles.append(module.register_forward_hook(self._make_trunk_hook(name)))
        bb = backbone_of(self.model)
        self._handles.append(bb.register_forward_pre_hook(self._backbone_pre_hook))
        self._handles.append(bb.register_forward_hook(self._backbone_hook))
        transform = getattr(self.model, "transform", None)
        if isinstance(transform, nn.Module):
            self._handles.append(transform.register_forward_hook(self._transform_hook))
        head = getattr(getattr(self.model, "rpn", None), "head", None)
        cls_logits = getattr(head, "cls_logits", None)
        if isinstance(cls_logits, nn.Module):
            self._handles.append(cls_logits.register_forward_hook(self._rpn_hook))

    def _make_trunk_hook(self, name: str):
        def hook(_m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
            self._trunk[name] = _to_numpy(out, self.batch_index)

        return hook

    def _backbone_pre_hook(self, _m: nn.Module, inp: tuple) -> None:
        x = inp[0]
        self._batch_hw = (int(x.shape[-2]), int(x.shape[-1]))
        self._trunk.clear()
        self._levels.clear()
        self._rpn.clear()
        self._level_keys = []

    def _backbone_hook(self, _m: nn.Module, _inp: tuple, out: object) -> None:
        feats = out if isinstance(out, dict) else OrderedDict([("0", out)])
        self._level_keys = list(feats.keys())
        if not self._fpn:
            return  # the single C4 map is res5, already captured by the trunk hook
        for key, t in feats.items():
            self._levels[key] = _to_numpy(t, self.batch_index)

    def _transform_hook(self, _m: nn.Module, _inp: tuple, out: tuple) -> None:
        image_list = out[0]
        self._image_sizes = [(int(h), int(w)) for h, w in image_list.image_sizes]

    def _rpn_hook(self, _m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        self._rpn.append(_to_numpy(torch.sigmoid(out), self.batch_index))

    # ------------------------------------------------------------------ control
    def remove(self) -> None:
        """Remove every hook this capture registered (idempotent)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def clear(self) -> None:
        """Drop stored maps (hooks stay)."""
        self._trunk.clear()
        self._levels.clear()
        self._rpn.clear()

    @property
    def active(self) -> bool:
        return bool(self._handles)

    def __enter__(self) -> "FeatureCapture":
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # ------------------------------------------------------------------ results
    @property
    def batch_hw(self) -> tuple[int, int] | None:
        """(h, w) of the padded batch tensor of the last forward."""
        return self._batch_hw

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(h, w) of the stored image after the model's resize (before padding), if known."""
        if self._image_sizes and self.batch_index < len(self._image_sizes):
            return self._image_sizes[self.batch_index]
        return self._batch_hw

    def _stride(self, arr: np.ndarray) -> tuple[float, float]:
        """Nominal stride per axis: the power of two nearest batch size / map size (convs and
        pools round up, so P6 of a 160-px batch is 3 cells of stride 64, not 53.3)."""
        assert self._batch_hw is not None
        sy = self._batch_hw[0] / arr.shape[-2]
        sx = self._batch_hw[1] / arr.shape[-1]
        return (float(2 ** round(math.log2(sy))), float(2 ** round(math.log2(sx))))

    def features(self) -> "OrderedDict[str, FeatureMap]":
        """Captured maps of the last forward in order stem, res2..res5, P2..P6, rpn/...

        Raises RuntimeError if no forward has run through the backbone since attaching.
        """
        if self._batch_hw is None:
            raise RuntimeError("no forward pass has been captured yet")
        out: OrderedDict[str, FeatureMap] = OrderedDict()
        for name, arr in self._trunk.items():
            out[name] = FeatureMap(name, "stem" if name == "stem" else "res", arr, self._stride(arr))
        key_names: dict[str, str] = {}
        for key, arr in self._levels.items():
            st = self._stride(arr)
            key_names[key] = level_name(int(round(st[0])), fpn=True)
            if self._want(key_names[key]):
                out[key_names[key]] = FeatureMap(key_names[key], "fpn", arr, st)
        for i, arr in enumerate(self._rpn):
            st = self._stride(arr)
            lvl = level_name(int(round(st[0])), fpn=self._fpn)
            name = f"rpn/{lvl}"
            if self._wanted is None or name in self._wanted or "rpn" in self._wanted:
                out[name] = FeatureMap(name, "rpn", arr, st)
        return out

    def level_names(self) -> dict[str, str]:
        """torchvision feature key ("0", "pool", ...) -> stage name ("P2", "P6"; "res5" for C4)."""
        names: dict[str, str] = {}
        for key, arr in self._levels.items():
            names[key] = level_name(int(round(self._stride(arr)[0])), fpn=True)
        if not self._fpn and self._level_keys:
            names[self._level_keys[0]] = "res5"
        return names


def model_device(model: nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def inspection_from_capture(capture: FeatureCapture, detections: Any,
                            original_size: tuple[int, int]) -> InspectionResult:
    """Package what ``capture`` recorded during a forward someone else ran, plus that forward's
    detections (anything with numpy-like ``boxes``, ``scores``, ``labels``, and optionally
    ``class_names``; boxes in original pixels), as an :class:`InspectionResult`."""
    feats = capture.features()
    image_size, batch_hw = capture.image_size, capture.batch_hw
    assert image_size is not None and batch_hw is not None
    h, w = int(original_size[0]), int(original_size[1])
    det = Detections(
        boxes=np.asarray(detections.boxes, dtype=np.float32).reshape(-1, 4),
        scores=np.asarray(detections.scores, dtype=np.float32).reshape(-1),
        labels=np.asarray(detections.labels, dtype=np.int64).reshape(-1),
        class_names=list(getattr(detections, "class_names", []) or []),
    )
    return InspectionResult(detections=det, features=feats, original_size=(h, w), image_size=image_size,
                            batch_size=batch_hw, scale=(image_size[0] / h, image_size[1] / w))


def capture_predict(predictor: Any, rgb: np.ndarray, *, stages: Iterable[str] | None = None) -> tuple[Any, InspectionResult]:
    """``predictor.predict([rgb])`` with feature capture in the SAME forward pass when the
    predictor runs the eager model (hooks on ``predictor.built.model``). An optimised runner
    (traced / compiled backbone, see :mod:`rnxstudio.ml.fast`) hides its stages from hooks; then
    the eager model runs once more through :func:`inspect_image`. Returns (the predictor's
    detections, the inspection)."""
    built = predictor.built
    runner = getattr(predictor, "_runner", None)
    if runner is built.model:
        with FeatureCapture(built.model, stages=stages) as cap:
            det = predictor.predict([rgb])[0]
        return det, inspection_from_capture(cap, det, rgb.shape[:2])
    det = predictor.predict([rgb])[0]
    return det, inspect_image(built, rgb, device=getattr(predictor, "device", None), stages=stages)


def inspect_image(
    model_or_built: object,
    rgb: np.ndarray,
    *,
    device: str | torch.device | None = None,
    stages: Iterable[str] | None = None,
) -> InspectionResult:
    """Run ONE inference of ``rgb`` (HxWx3 uint8, upright) with feature capture.

    The model must already live on ``device`` (default: where its parameters are); it is run
    in eval mode under ``torch.inference_mode`` and its mode is restored afterwards.
    """
    model = unwrap_model(model_or_built)
    dev = torch.device(device) if device is not None else model_device(model)
    x = image_to_tensor(rgb, device=dev)
    was_training = model.training
    model.eval()
    try:
        with FeatureCapture(model, stages=stages) as cap, torch.inference_mode():
            out = model([x])[0]
    finally:
        model.train(was_training)
    det = Detections(
        boxes=out["boxes"].detach().to("cpu", torch.float32).numpy().reshape(-1, 4),
        scores=out["scores"].detach().to("cpu", torch.float32).numpy().reshape(-1),
        labels=out["labels"].detach().to("cpu", torch.int64).numpy().reshape(-1),
        class_names=list(getattr(model_or_built, "class_names", []) or []),
    )
    return inspection_from_capture(cap, det, rgb.shape[:2])
