"""Grad-CAM for one Faster R-CNN detection.

Detections come out of post-processing (score threshold, NMS), which has no useful gradient, so
the class score is recomputed for the chosen box the way the model scored it: backbone (+FPN)
with grad enabled, the model's own ``box_roi_pool`` on the box, ``box_head``, ``box_predictor``.
The chosen class logit (or softmax score) is back-propagated to the chosen stage's activations
A (C, h, w); the channel weights are the spatial means of the gradients and the map is
ReLU(sum_c w_c A_c), normalised to [0, 1] and mapped to the original image.

Only ``torch.autograd.grad`` is used (parameter ``.grad`` fields are never written), every hook
is removed in ``finally`` and the model's train/eval mode is restored.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rnxstudio.ml.introspect import heatmap as hm
from rnxstudio.ml.introspect.hooks import model_device
from rnxstudio.ml.introspect.stages import has_fpn, level_name, trunk_stages, unwrap_model
from rnxstudio.ml.tensors import image_to_tensor

TARGETS = ("logit", "score")
METHODS = ("gradcam", "hirescam")


@dataclass
class GradCamResult:
    """``heat``: (H, W) float32 in [0, 1] on the original image; ``cam``: the raw ReLU map at the
    stage's resolution; ``reached`` False when the target does not depend on the stage (e.g. P6
    feeds only the RPN), in which case both maps are zero."""

    heat: np.ndarray
    cam: np.ndarray
    stage: str
    label: int
    target: str
    target_value: float
    stride: tuple[float, float]
    reached: bool


def _nominal_stride(batch: int, size: int) -> float:
    return float(2 ** round(math.log2(batch / size)))


def gradcam_stages(model_or_built: object) -> list[str]:
    """Stages Grad-CAM can target on this model (stem, res2..res5, then P2..P6 for FPN models)."""
    model = unwrap_model(model_or_built)
    names = list(trunk_stages(model).keys())
    if has_fpn(model):
        names += ["P2", "P3", "P4", "P5", "P6"]
    return names


def gradcam(
    model_or_built: object,
    rgb: np.ndarray,
    box: tuple[float, float, float, float] | np.ndarray,
    label: int,
    *,
    stage: str = "res5",
    target: str = "logit",
    method: str = "gradcam",
    device: str | torch.device | None = None,
) -> GradCamResult:
    """Grad-CAM of detection ``box`` (xyxy, original pixels) for model label ``label``.

    ``stage`` is one of :func:`gradcam_stages`; ``target`` "logit" (the class logit) or
    "score" (its softmax probability). Raises ValueError for an unknown stage, label or target.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose gradcam or hirescam")
    if target not in TARGETS:
        raise ValueError(f"unknown Grad-CAM target {target!r}; choose logit or score")
    model = unwrap_model(model_or_built)
    dev = torch.device(device) if device is not None else model_device(model)
    stages = trunk_stages(model)
    fpn = has_fpn(model)
    if stage not in stages and not (fpn and stage.startswith("P")):
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(gradcam_stages(model))}")
    roi = model.roi_heads
    n_cls = roi.box_predictor.cls_score.out_features
    if not 0 <= int(label) < n_cls:
        raise ValueError(f"label {label} out of range 0..{n_cls - 1}")
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1]:
        raise ValueError(f"invalid box {box!r}: expected finite x1 < x2, y1 < y2")

    H, W = int(rgb.shape[0]), int(rgb.shape[1])
    was_training = model.training
    model.eval()
    stash: dict[str, torch.Tensor] = {}
    handle = None
    try:
        with torch.enable_grad():
            images, _ = model.transform([image_to_tensor(rgb, device=dev)])
            inp = images.tensors.detach().requires_grad_(True)
            if stage in stages:
                handle = stages[stage].register_forward_hook(lambda _m, _i, o: stash.__setitem__("a", o))
            feats = model.backbone(inp)
            if handle is not None:
                handle.remove()
                handle = None
            if not isinstance(feats, dict):
                feats = OrderedDict([("0", feats)])
            bh, bw = int(inp.shape[-2]), int(inp.shape[-1])
            if stage not in stages:
                for t in feats.values():
                    if level_name(int(_nominal_stride(bh, t.shape[-2])), fpn=True) == stage:
                        stash["a"] = t
                if "a" not in stash:
                    raise ValueError(f"stage {stage!r} not produced by this model's FPN")
            act = stash["a"]
            rh, rw = images.image_sizes[0]
            sy, sx = rh / H, rw / W
            box_t = torch.tensor([[b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy]], dtype=inp.dtype, device=dev)
            pooled = roi.box_roi_pool(feats, [box_t], images.image_sizes)
            logits, _ = roi.box_predictor(roi.box_head(pooled))
            value = logits[0, int(label)] if target == "logit" else torch.softmax(logits, -1)[0, int(label)]
            (grad,) = torch.autograd.grad(value, act, allow_unused=True)
        a = act.detach()[0]
        stride = (_nominal_stride(bh, a.shape[-2]), _nominal_stride(bw, a.shape[-1]))
        reached = grad is not None and bool(torch.any(grad != 0))
        if reached:
            if method == "gradcam":
                weights = grad[0].mean(dim=(1, 2))
                cam_t = torch.relu((weights[:, None, None] * a).sum(0))
            else:
                cam_t = torch.relu((grad[0] * a).sum(0))
            cam = cam_t.to("cpu", torch.float32).numpy()
        else:
            cam = np.zeros(a.shape[-2:], dtype=np.float32)
    finally:
        if handle is not None:
            handle.remove()
        model.train(was_training)
    heat = np.clip(hm.to_image(hm.normalize(cam), stride, (sy, sx), (H, W)), 0.0, 1.0)
    return GradCamResult(heat=heat, cam=cam, stage=stage, label=int(label), target=target,
                         target_value=float(value.detach()), stride=stride, reached=reached)


def _hooks_left(model: nn.Module) -> int:
    """Number of forward hooks on any submodule (used by tests to prove nothing leaked)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
