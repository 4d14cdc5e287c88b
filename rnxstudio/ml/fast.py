"""The optimised inference path: exact graph rewrites plus device-specific execution choices.

:func:`optimize` returns an inference-only COPY of a torchvision Faster R-CNN (the caller's model,
which training may still be using, is never touched) with some of these applied:

``fold``
    every convolution followed by a frozen (or eval-mode) BatchNorm becomes one convolution with a
    bias: the same function up to float rounding, one memory pass fewer per layer.
``channels_last``
    NHWC weights and activations, the layout oneDNN (CPU) and cuDNN tensor cores prefer.
``jit``
    the backbone (ResNeXt + FPN, ~90 % of the FLOPs) is traced on its first input, frozen and run
    through ``torch.jit.optimize_for_inference`` (oneDNN conv+add+relu fusion, pre-packed
    weights). The trace has no size-dependent Python, so one trace serves every input size; RPN,
    RoI heads and post-processing stay eager.
``compile``
    ``torch.compile`` (inductor) on the backbone. Costly to compile and recompiles per input size
    unless sizes are fixed; opt-in only.
``bf16`` / ``fp16``
    autocast for the whole forward pass (returned as :attr:`Plan.amp_dtype`; the Predictor applies it).

``mode="auto"`` picks what measured faster than eager fp32 on the device type (see
docs/PERFORMANCE.md): CPU -> fold + channels_last (jit was not reliably faster on top of it, and
bf16 / compile lost clearly); CUDA -> fold + channels_last + fp16 AMP (not measured here: no GPU).
``mode="none"`` is plain torchvision eager fp32. A mode can also be a ``+``-joined list of the
names above, e.g. ``"fold+channels_last"``.
"""

from __future__ import annotations

import copy
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops.misc import FrozenBatchNorm2d

from rnxstudio.ml.prefetch import target_size

FEATURES = ("fold", "channels_last", "jit", "compile", "bf16", "fp16")
MODES = ("auto", "none", *FEATURES)


@dataclass(frozen=True)
class Plan:
    """What :func:`optimize` will do on one device."""

    fold: bool = False
    channels_last: bool = False
    backbone: str = "eager"  # "eager" | "jit" | "compile"
    amp_dtype: torch.dtype | None = None

    @property
    def is_eager(self) -> bool:
        return not (self.fold or self.channels_last or self.amp_dtype is not None) and self.backbone == "eager"

    def describe(self) -> str:
        parts = [name for name, on in (("fold", self.fold), ("channels_last", self.channels_last)) if on]
        if self.backbone != "eager":
            parts.append(self.backbone)
        if self.amp_dtype is not None:
            parts.append({torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.amp_dtype, str(self.amp_dtype)))
        return "+".join(parts) or "none"


def plan_for(device: torch.device | str, mode: str = "auto") -> Plan:
    """The :class:`Plan` for ``mode`` on ``device``. Raises ValueError for an unknown mode."""
    device = torch.device(device)
    mode = (mode or "none").strip().lower()
    if mode == "auto":
        if device.type == "cuda":
            return Plan(fold=True, channels_last=True, amp_dtype=torch.float16)
        if device.type == "cpu":
            return Plan(fold=True, channels_last=True)
        return Plan(fold=True)
    if mode in ("none", "eager", "off", ""):
        return Plan()
    features = [f.strip() for f in mode.split("+") if f.strip()]
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"unknown optimisation {unknown[0]!r}; use one of {', '.join(MODES)} "
                         "or a '+'-joined list of " + ", ".join(FEATURES))
    if "jit" in features and "compile" in features:
        raise ValueError("choose either 'jit' or 'compile' for the backbone, not both")
    if "bf16" in features and "fp16" in features:
        raise ValueError("choose either 'bf16' or 'fp16', not both")
    amp = torch.bfloat16 if "bf16" in features else torch.float16 if "fp16" in features else None
    backbone = "jit" if "jit" in features else "compile" if "compile" in features else "eager"
    return Plan(fold="fold" in features, channels_last="channels_last" in features, backbone=backbone, amp_dtype=amp)


# --------------------------------------------------------------------------- conv + norm folding


def _norm_scale_shift(norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(scale, shift) with ``norm(x) == x * scale + shift`` per channel, or None if not foldable."""
    if isinstance(norm, FrozenBatchNorm2d):
        eps = norm.eps
    elif isinstance(norm, nn.BatchNorm2d) and not norm.training and norm.track_running_stats \
            and norm.running_mean is not None:
        eps = norm.eps
    else:
        return None
    mean, var = norm.running_mean.double(), norm.running_var.double()
    weight = norm.weight.double() if norm.weight is not None else torch.ones_like(mean)
    bias = norm.bias.double() if norm.bias is not None else torch.zeros_like(mean)
    scale = weight * (var + eps).rsqrt()
    return scale, bias - mean * scale


def _fold_pair(conv: nn.Conv2d, norm: nn.Module) -> bool:
    ss = _norm_scale_shift(norm)
    if ss is None or conv.out_channels != ss[0].numel():
        return False
    scale, shift = ss
    with torch.no_grad():
        w = conv.weight.double() * scale.view(-1, 1, 1, 1)
        b = (conv.bias.double() * scale if conv.bias is not None else 0.0) + shift
        conv.weight = nn.Parameter(w.to(conv.weight.dtype), requires_grad=False)
        conv.bias = nn.Parameter(b.to(conv.weight.dtype), requires_grad=False)
    return True


def fold_conv_norm(module: nn.Module) -> int:
    """Fold every conv -> frozen/eval BatchNorm pair in ``module`` IN PLACE; returns how many.

    Pairs are found the way torchvision ResNets (and our tiny ResNeXt) are written: attributes
    ``convN`` / ``bnN`` of one module, and adjacent (Conv2d, norm) children of an ``nn.Sequential``
    (downsample branches, the C4 trunk's stem). Folded norms become ``nn.Identity``. GroupNorm
    depends on the activations and is left alone.
    """
    count = 0
    for parent in list(module.modules()):
        if isinstance(parent, nn.Sequential):
            keys = list(parent._modules)
            for a, b in zip(keys, keys[1:]):
                conv, norm = parent._modules[a], parent._modules[b]
                if isinstance(conv, nn.Conv2d) and _fold_pair(conv, norm):
                    parent._modules[b] = nn.Identity()
                    count += 1
            continue
        for name, child in list(parent.named_children()):
            if not (isinstance(child, nn.Conv2d) and name.startswith("conv")):
                continue
            norm_name = "bn" + name[len("conv"):]
            norm = getattr(parent, norm_name, None)
            if isinstance(norm, nn.Module) and _fold_pair(child, norm):
                setattr(parent, norm_name, nn.Identity())
                count += 1
    return count


# --------------------------------------------------------------------------- backbone wrappers


class TracedBackbone(nn.Module):
    """A backbone traced on its first input, frozen and optimised for inference (oneDNN on CPU).

    Keeps ``out_channels`` (FasterRCNN reads it) and returns the same ordered feature dict.
    Falls back to the eager backbone, with a warning, if tracing fails.
    """

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.eager = backbone
        self.out_channels = backbone.out_channels
        self._scripted: torch.jit.ScriptModule | None = None
        self._failed = False
        self._lock = threading.Lock()

    def _build(self, x: torch.Tensor) -> None:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            example = x.detach().clone()
            traced = torch.jit.trace(self.eager, example, strict=False, check_trace=False)
            frozen = torch.jit.freeze(traced.eval())
            self._scripted = torch.jit.optimize_for_inference(frozen)

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        if self._scripted is None and not self._failed:
            with self._lock:
                if self._scripted is None and not self._failed:
                    try:
                        self._build(x)
                    except Exception as exc:  # noqa: BLE001 - an exotic backbone keeps working eagerly
                        self._failed = True
                        warnings.warn(f"backbone tracing failed ({exc}); running it eagerly", stacklevel=2)
        if self._scripted is None:
            return self.eager(x)
        out = self._scripted(x)
        if isinstance(out, torch.Tensor):  # one-map (C4) trunk
            return OrderedDict([("0", out)])
        return OrderedDict(out.items())


class CompiledBackbone(nn.Module):
    """``torch.compile`` (inductor) on the backbone; sizes are marked static, so each new input
    size compiles once (bucket or fix image sizes to bound that)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.eager = backbone
        self.out_channels = backbone.out_channels
        self._compiled = torch.compile(backbone, dynamic=False)

    def forward(self, x: torch.Tensor):
        out = self._compiled(x)
        return OrderedDict([("0", out)]) if isinstance(out, torch.Tensor) else out


class _ChannelsLastInput(nn.Module):
    """Turns the backbone input NHWC before the (channels_last) backbone sees it."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.inner = backbone
        self.out_channels = backbone.out_channels

    def forward(self, x: torch.Tensor):
        out = self.inner(x.contiguous(memory_format=torch.channels_last))
        return OrderedDict([("0", out)]) if isinstance(out, torch.Tensor) else out


class PresizedTransform(GeneralizedRCNNTransform):
    """GeneralizedRCNNTransform that leaves an image alone when it is already at the test size
    (within 1 px), as images from :func:`rnxstudio.ml.prefetch.prepare_image` are; others are
    resized exactly as before. Training behaviour is unchanged."""

    @classmethod
    def from_transform(cls, t: GeneralizedRCNNTransform) -> PresizedTransform:
        return cls(t.min_size, t.max_size, t.image_mean, t.image_std,
                   size_divisible=t.size_divisible, fixed_size=t.fixed_size)

    def resize(self, image: torch.Tensor, target=None):
        if not self.training and target is None and self.fixed_size is None:
            h, w = image.shape[-2:]
            tw, th = target_size(int(w), int(h), int(self.min_size[-1]), int(self.max_size))
            if abs(tw - w) <= 1 and abs(th - h) <= 1:
                return image, target
        return super().resize(image, target)


# --------------------------------------------------------------------------- entry point


def optimize(model: nn.Module, device: torch.device | str, mode: str | Plan = "auto") -> tuple[nn.Module, Plan]:
    """An optimised inference copy of ``model`` on ``device`` and the :class:`Plan` applied.

    The returned model is in eval mode with gradients off; ``plan.amp_dtype`` (if any) must be
    applied by the caller as ``torch.autocast``. ``mode="none"`` still returns a copy.
    """
    device = torch.device(device)
    plan = mode if isinstance(mode, Plan) else plan_for(device, mode)
    fast = copy.deepcopy(model).to(device).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    if (not plan.is_eager and isinstance(fast.transform, GeneralizedRCNNTransform)
            and not isinstance(fast.transform, PresizedTransform)):  # e.g. ml.resize: already presize-aware
        fast.transform = PresizedTransform.from_transform(fast.transform).eval()
    if plan.fold:
        fold_conv_norm(fast.backbone)
    if plan.channels_last:
        fast = fast.to(memory_format=torch.channels_last)
        fast.backbone = _ChannelsLastInput(fast.backbone)
    if plan.backbone == "jit":
        fast.backbone = TracedBackbone(fast.backbone)
    elif plan.backbone == "compile":
        fast.backbone = CompiledBackbone(fast.backbone)
    return fast.eval(), plan
