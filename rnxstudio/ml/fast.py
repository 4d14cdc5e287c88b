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
``openvino``
    the (folded) backbone + FPN converted to OpenVINO once per weights and cached on disk
    (:mod:`rnxstudio.ml.openvino_backend`); the heads stay in torch. Needs the ``[openvino]`` extra.
``sparse_roi``
    the box head's RoIAlign as one sparse x dense product per pyramid level over the
    (channels-last) feature map, multithreaded; torchvision's CPU kernel walks RoIs one thread
    at a time. Equal to torchvision's up to float rounding (tests/unit/test_fast.py). CPU only.
``bf16`` / ``fp16``
    reduced precision. On the CPU only the backbone: its weights are cast once (no per-call
    weight casts), or with ``openvino`` it runs at OpenVINO's bf16 inference precision; the heads
    stay fp32 (:attr:`Plan.autocast` is False). On CUDA (and with ``jit`` / ``compile``) the
    whole forward runs under autocast, which the Predictor applies.
``fp32_stem``
    with ``bf16`` / ``fp16`` on the CPU's torch backbone: the stem (the first convolution, its
    norm, ReLU and max-pool, before ``layer1``) stays fp32 and reads the fp32 image; the rest of
    the backbone runs in reduced precision. Rounding the normalised image to bf16 (8 significant
    bits: about one grey level) in the stem is where bf16 lost most of the accuracy guard's
    matches (98.7 % -> 99.4 % on the demo detector; docs/PERFORMANCE.md), for ~1 % of X50's work.

``mode="auto"`` asks :func:`rnxstudio.ml.precision.resolve` for the fastest correct path on this
device: on a CPU with native bf16 (AVX512-BF16 / AMX) bf16, elsewhere fp32 fold + channels_last,
with OpenVINO for the backbone when it is installed, and sparse RoIAlign (measured in
docs/PERFORMANCE.md); CUDA -> fold + channels_last + fp16 AMP. ``mode="none"`` is plain
torchvision eager fp32. A mode can also be a ``+``-joined list of the names above, e.g.
``"fold+channels_last"``.
"""

from __future__ import annotations

import copy
import itertools
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.misc import FrozenBatchNorm2d
from torchvision.ops.poolers import _setup_scales

from rnxstudio.ml.prefetch import target_size

FEATURES = ("fold", "channels_last", "jit", "compile", "openvino", "sparse_roi", "bf16", "fp16", "fp32_stem")
MODES = ("auto", "none", *FEATURES)
_BACKBONES = ("jit", "compile", "openvino")


@dataclass(frozen=True)
class Plan:
    """What :func:`optimize` will do on one device."""

    fold: bool = False
    channels_last: bool = False
    backbone: str = "eager"  # "eager" | "jit" | "compile" | "openvino"
    amp_dtype: torch.dtype | None = None
    sparse_roi: bool = False
    cpu: bool = False  # planned for a CPU (see autocast)
    fp32_stem: bool = False  # with reduced precision: the backbone's stem stays fp32

    @property
    def is_eager(self) -> bool:
        return not (self.fold or self.channels_last or self.sparse_roi or self.amp_dtype is not None) \
            and self.backbone == "eager"

    @property
    def autocast(self) -> bool:
        """True when the caller should run the whole forward under autocast(amp_dtype): reduced
        precision on a device or backbone runner that does not handle it itself."""
        return self.amp_dtype is not None and not (self.cpu and self.backbone in ("eager", "openvino"))

    @property
    def precision(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.amp_dtype, "fp32")

    def describe(self) -> str:
        parts = [name for name, on in (("fold", self.fold), ("channels_last", self.channels_last)) if on]
        if self.backbone != "eager":
            parts.append(self.backbone)
        if self.sparse_roi:
            parts.append("sparse_roi")
        if self.amp_dtype is not None:
            parts.append(self.precision)
        if self.fp32_stem:
            parts.append("fp32_stem")
        return "+".join(parts) or "none"


def plan_for(device: torch.device | str, mode: str = "auto", *, precision: str = "auto",
             backend: str = "auto") -> Plan:
    """The :class:`Plan` for ``mode`` on ``device``. Raises ValueError for an unknown mode.

    ``precision`` / ``backend`` only matter for ``mode="auto"`` (see :mod:`rnxstudio.ml.precision`).
    """
    device = torch.device(device)
    mode = (mode or "none").strip().lower()
    if mode == "auto":
        from rnxstudio.ml.precision import resolve

        mode = resolve(device, precision, backend).mode
    if mode in ("none", "eager", "off", ""):
        return Plan(cpu=device.type == "cpu")
    features = [f.strip() for f in mode.split("+") if f.strip()]
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"unknown optimisation {unknown[0]!r}; use one of {', '.join(MODES)} "
                         "or a '+'-joined list of " + ", ".join(FEATURES))
    backbones = [f for f in features if f in _BACKBONES]
    if len(backbones) > 1:
        raise ValueError(f"choose one backbone runner, not {' and '.join(backbones)}")
    if "bf16" in features and "fp16" in features:
        raise ValueError("choose either 'bf16' or 'fp16', not both")
    if device.type != "cpu" and ("openvino" in features or "sparse_roi" in features):
        raise ValueError("'openvino' and 'sparse_roi' run on the CPU only")
    amp = torch.bfloat16 if "bf16" in features else torch.float16 if "fp16" in features else None
    fp32_stem = "fp32_stem" in features
    if fp32_stem and (amp is None or device.type != "cpu" or backbones):
        raise ValueError("'fp32_stem' goes with 'bf16' or 'fp16' on the CPU's torch backbone only")
    return Plan(fold="fold" in features or "openvino" in features, channels_last="channels_last" in features,
                backbone=backbones[0] if backbones else "eager", amp_dtype=amp, sparse_roi="sparse_roi" in features,
                cpu=device.type == "cpu", fp32_stem=fp32_stem)


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


class _ReducedPrecisionBackbone(nn.Module):
    """The backbone with bf16 (or fp16) weights: casts its input, returns fp32 maps.

    Autocast would cast every weight again on every call; casting once saves that copy. The heads
    (RPN, RoI) stay fp32 on the CPU: with them in bf16 only 88 % of eager's boxes kept IoU >= 0.9
    on a shapes model, 98 % with the backbone alone in bf16 (docs/PERFORMANCE.md). With
    ``fp32_stem`` the stem keeps fp32 weights and the fp32 input, and hands ``dtype`` maps on.
    """

    def __init__(self, backbone: nn.Module, dtype: torch.dtype, channels_last: bool = False,
                 fp32_stem: bool = False):
        super().__init__()
        found = _stem(backbone) if fp32_stem else None
        kept = {n: copy.deepcopy(found[0]._modules[n]) for n in found[1]} if found else {}  # fp32 originals
        self.inner = backbone.to(dtype)
        self.dtype = dtype
        self.memory_format = torch.channels_last if channels_last else torch.preserve_format
        self.out_channels = backbone.out_channels
        self.input_dtype = dtype
        if found:
            trunk, names = found
            for n in names:
                trunk._modules[n] = kept[n]
            trunk._modules[names[-1]] = _CastAfter(kept[names[-1]], dtype)
            self.input_dtype = torch.float32
        elif fp32_stem:
            warnings.warn("no ResNet-style stem found in this backbone; all of it runs in reduced precision",
                          stacklevel=2)

    def forward(self, x: torch.Tensor):
        out = self.inner(x.to(dtype=self.input_dtype, memory_format=self.memory_format))
        if isinstance(out, torch.Tensor):
            out = OrderedDict([("0", out)])
        return OrderedDict((k, v.float()) for k, v in out.items())


class _CastAfter(nn.Module):
    """Runs ``inner``, then casts its output to ``dtype`` (the end of an fp32 stem)."""

    def __init__(self, inner: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.inner = inner
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).to(self.dtype)


def _stem(backbone: nn.Module) -> tuple[nn.Module, list[str]] | None:
    """(trunk, names of its stem children) of a torchvision ``BackboneWithFPN`` or a bare trunk,
    or None when there is no recognisable stem.

    The stem is the trunk's children before ``layer1`` (torchvision ResNet naming, which the tiny
    ResNeXt and converted models share), or before the first ``nn.Sequential`` stage of a C4 trunk.
    """
    while isinstance(backbone, _ChannelsLastInput):
        backbone = backbone.inner
    trunk = getattr(backbone, "body", backbone)
    names = list(trunk._modules)
    if "layer1" in names:
        stem = names[:names.index("layer1")]
    else:
        stem = list(itertools.takewhile(lambda n: not isinstance(trunk._modules[n], nn.Sequential), names))
    if not stem or not isinstance(trunk._modules[stem[0]], nn.Conv2d) or len(stem) == len(names):
        return None
    return trunk, stem


def roi_align_pixels(feature: torch.Tensor, rois: torch.Tensor, output_size: tuple[int, int],
                     spatial_scale: float, sampling_ratio: int, aligned: bool = False) -> torch.Tensor:
    """torchvision ``roi_align`` for inference on the CPU as one sparse (K*ph*pw x N*H*W) x dense
    (N*H*W x C) product; fp32 result (K, C, ph, pw). Either convention (``aligned``: detectron2's
    and mmcv's) and a fixed or adaptive (0) sampling ratio, as :mod:`rnxstudio.ml.roi_pool`.

    The feature map is read as a pixels x channels matrix, a free view when it is channels-last.
    """
    from rnxstudio.ml.roi_pool import bilinear_entries

    n, c, h, w = feature.shape
    k = rois.shape[0]
    ph, pw = output_size
    if k == 0:
        return feature.new_zeros((0, c, ph, pw), dtype=torch.float32)
    rows, cols, vals = bilinear_entries(rois.float(), spatial_scale, (n, h, w), (ph, pw), sampling_ratio, aligned)
    crow = torch.zeros(k * ph * pw + 1, dtype=torch.long)
    crow[1:] = torch.bincount(rows, minlength=k * ph * pw).cumsum(0)  # entries come sorted by row
    a = torch.sparse_csr_tensor(crow, cols, vals.float(), (k * ph * pw, n * h * w), check_invariants=False)
    pixels = feature.permute(0, 2, 3, 1).reshape(n * h * w, c).float()
    out = torch.sparse.mm(a, pixels)
    return out.view(k, ph, pw, c).permute(0, 3, 1, 2)


class SparseRoIAlign(MultiScaleRoIAlign):
    """``MultiScaleRoIAlign`` computing each level with :func:`roi_align_pixels` on the CPU at
    inference (torchvision's path for training and other devices). Keeps the replaced pooler's
    convention (``aligned``, sampling ratio), so a converted detectron2 / mmdetection model
    pools exactly as it did."""

    @classmethod
    def from_pooler(cls, old: MultiScaleRoIAlign) -> SparseRoIAlign:
        new = cls(featmap_names=list(old.featmap_names), output_size=old.output_size,
                  sampling_ratio=old.sampling_ratio, canonical_scale=old.canonical_scale,
                  canonical_level=old.canonical_level)
        new.scales, new.map_levels = old.scales, old.map_levels
        new.aligned = bool(getattr(old, "aligned", False))
        new.fallback = old
        return new

    def forward(self, x: dict[str, torch.Tensor], boxes: list[torch.Tensor],
                image_shapes: list[tuple[int, int]]) -> torch.Tensor:
        feats = [v for k, v in x.items() if k in self.featmap_names]
        if torch.is_grad_enabled() or not feats or feats[0].device.type != "cpu":
            return self.fallback(x, boxes, image_shapes)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = _setup_scales(feats, image_shapes, self.canonical_scale,
                                                         self.canonical_level)
        rois = torch.cat([torch.cat((torch.full_like(b[:, :1], i), b), 1) for i, b in enumerate(boxes)])
        size = tuple(self.output_size)
        with torch.autocast("cpu", enabled=False):
            if len(feats) == 1:
                return roi_align_pixels(feats[0], rois, size, self.scales[0], self.sampling_ratio, self.aligned)
            levels = self.map_levels(boxes)
            out = torch.zeros((rois.shape[0], feats[0].shape[1]) + size, dtype=torch.float32)
            for level, (feat, scale) in enumerate(zip(feats, self.scales)):
                idx = torch.where(levels == level)[0]
                if idx.numel():
                    out[idx] = roi_align_pixels(feat, rois[idx], size, scale, self.sampling_ratio, self.aligned)
            return out


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
    applied by the caller as ``torch.autocast``. ``mode="none"`` still returns a copy. If the
    OpenVINO conversion fails the torch backbone is used, with a warning, and the returned plan
    says so.
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
    heads = getattr(fast, "roi_heads", None)
    if plan.sparse_roi and isinstance(getattr(heads, "box_roi_pool", None), MultiScaleRoIAlign):
        heads.box_roi_pool = SparseRoIAlign.from_pooler(heads.box_roi_pool)
    if plan.backbone == "openvino":
        from rnxstudio.ml.openvino_backend import OpenVINOBackbone

        try:
            fast.backbone = OpenVINOBackbone(fast.backbone, precision=plan.precision,
                                             key_extra={"fold": plan.fold})
        except Exception as exc:  # noqa: BLE001 - an exotic backbone or a broken install keeps working
            warnings.warn(f"OpenVINO conversion failed ({exc}); running the backbone in torch", stacklevel=2)
            plan = Plan(fold=plan.fold, channels_last=plan.channels_last, amp_dtype=plan.amp_dtype,
                        sparse_roi=plan.sparse_roi, cpu=plan.cpu)
        else:
            return fast.eval(), plan
    if plan.channels_last:
        fast = fast.to(memory_format=torch.channels_last)
        fast.backbone = _ChannelsLastInput(fast.backbone)
    if plan.amp_dtype is not None and device.type == "cpu" and plan.backbone == "eager":
        fast.backbone = _ReducedPrecisionBackbone(fast.backbone, plan.amp_dtype, plan.channels_last, plan.fp32_stem)
    if plan.backbone == "jit":
        fast.backbone = TracedBackbone(fast.backbone)
    elif plan.backbone == "compile":
        fast.backbone = CompiledBackbone(fast.backbone)
    return fast.eval(), plan
