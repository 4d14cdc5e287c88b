"""Architecture tables: per-stage structure, output sizes, parameters and counted FLOPs.

FLOPs are *counted* with ``torch.utils.flop_counter.FlopCounterMode`` on meta tensors (shapes
only: no weights are copied, nothing is computed, any size is instant). FlopCounterMode counts
2 FLOPs per multiply-add (convolutions and matmuls only; norms, activations, pooling and
RoIAlign count 0). The ResNeXt paper counts multiply-adds, so the table reports both:
``flops`` (FlopCounterMode convention) and ``gmacs`` = flops / 2 / 1e9 (paper convention).

Detector rows: stem, res2..res5 (the trunk), FPN, RPN head (per image, all levels), RoI box head
and predictor (for R = the RPN's post-NMS proposal count at test time, 1000 by default), total.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from rnxstudio.ml.introspect.stages import backbone_of, has_fpn, trunk_of, trunk_stages, unwrap_model


@dataclass
class ArchRow:
    """One table row. ``None`` = not applicable. ``flops`` uses FlopCounterMode's 2-per-MAC."""

    name: str
    kind: str  # "trunk" | "neck" | "head" | "total"
    blocks: int | None = None
    groups: int | None = None  # cardinality: groups of the 3x3 conv
    width_per_group: int | None = None
    bottleneck_width: int | None = None
    out_channels: int | None = None
    stride: str | None = None
    out_hw: str | None = None
    params: int = 0
    flops: int = 0

    @property
    def gmacs(self) -> float:
        """Giga multiply-adds (the ResNeXt paper's 'FLOPs')."""
        return self.flops / 2e9


@dataclass
class ArchTable:
    """Rows for one model at one input size. ``input_hw`` is the requested (original) size,
    ``resized_hw`` after the model's resize and ``batch_hw`` after padding (what the backbone sees)."""

    model: str
    input_hw: tuple[int, int]
    resized_hw: tuple[int, int]
    batch_hw: tuple[int, int]
    rows: list[ArchRow]
    notes: list[str] = field(default_factory=list)

    def row(self, name: str) -> ArchRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def total(self) -> ArchRow:
        return self.row("total")


def _meta_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: torch.empty_like(v, device="meta")
            for k, v in [*module.named_parameters(), *module.named_buffers()]}


def _meta_call(module: nn.Module, *args: object) -> tuple[object, FlopCounterMode]:
    """Run ``module`` on meta tensors (parameters swapped for meta stand-ins, the module itself
    untouched) under a FlopCounterMode; returns (output, counter)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = functional_call(module, _meta_state(module), args)
    return out, counter


def _module_flops(counter: FlopCounterMode, root: nn.Module, qualname: str) -> int:
    key = type(root).__name__ + ("." + qualname if qualname else "")
    return int(sum(counter.get_flop_counts().get(key, {}).values()))


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _stride(batch: int, size: int) -> int:
    return int(2 ** round(math.log2(batch / size)))


def _block_info(stage: nn.Module) -> dict[str, int]:
    first, last = stage[0], stage[-1]
    conv2 = first.conv2
    out_conv = getattr(last, "conv3", None) or last.conv2
    return dict(blocks=len(stage), groups=conv2.groups, width_per_group=conv2.out_channels // conv2.groups,
                bottleneck_width=conv2.out_channels, out_channels=out_conv.out_channels)


def _trunk_rows(trunk_owner: nn.Module, root: nn.Module, counter: FlopCounterMode,
                shapes: dict[str, tuple[int, ...]], batch_hw: tuple[int, int]) -> list[ArchRow]:
    """stem + res rows; ``root`` is the module the counter ran on, ``trunk_owner`` holds stages."""
    trunk = trunk_of(trunk_owner)
    names = {id(m): n for n, m in root.named_modules()}
    stages = trunk_stages(trunk_owner)
    res_ids = {id(m) for k, m in stages.items() if k != "stem"}
    rows: list[ArchRow] = []
    stem_params = stem_flops = 0
    conv1 = None
    for child in trunk.children():
        if id(child) in res_ids:
            break
        stem_params += _params(child)
        stem_flops += _module_flops(counter, root, names[id(child)])
        if conv1 is None and isinstance(child, nn.Conv2d):
            conv1 = child
    for name, mod in stages.items():
        shp = shapes[name]
        hw = f"{shp[-2]}x{shp[-1]}"
        st = str(_stride(batch_hw[0], shp[-2]))
        if name == "stem":
            rows.append(ArchRow("stem", "trunk", groups=conv1.groups if conv1 else None,
                                out_channels=int(shp[1]), stride=st, out_hw=hw,
                                params=stem_params, flops=stem_flops))
        else:
            rows.append(ArchRow(name, "trunk", **_block_info(mod), stride=st, out_hw=hw,
                                params=_params(mod), flops=_module_flops(counter, root, names[id(mod)])))
    return rows


def _meta_call_with_stage_shapes(owner: nn.Module, module: nn.Module, x: torch.Tensor
                                 ) -> tuple[object, FlopCounterMode, dict[str, tuple[int, ...]]]:
    """:func:`_meta_call` of ``module`` on ``x`` that also records the output shape of each of
    ``owner``'s trunk stages; returns (output, counter, shapes by stage name)."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [mod.register_forward_hook(lambda _m, _i, o, name=name: shapes.__setitem__(name, tuple(o.shape)))
               for name, mod in trunk_stages(owner).items()]
    try:
        out, counter = _meta_call(module, x)
    finally:
        for hd in handles:
            hd.remove()
    return out, counter, shapes


def arch_table(model_or_built: object, input_hw: tuple[int, int] = (800, 1067), *, name: str | None = None) -> ArchTable:
    """Architecture table of a torchvision Faster R-CNN (or BuiltModel) for an ``input_hw`` image.

    The model's own transform decides the resized/padded size; the model is not modified and no
    real computation runs (meta tensors). Raises ValueError for a non-positive size.
    """
    h, w = int(input_hw[0]), int(input_hw[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"input size must be positive, got {h}x{w}")
    model = unwrap_model(model_or_built)
    spec = getattr(model_or_built, "spec", None)
    label = name or getattr(spec, "name", None) or type(model).__name__
    was_training = model.training
    model.eval()
    try:
        images, _ = model.transform([torch.empty(3, h, w, device="meta")])
    finally:
        model.train(was_training)
    batch_hw = (int(images.tensors.shape[-2]), int(images.tensors.shape[-1]))
    resized_hw = tuple(int(v) for v in images.image_sizes[0])
    bb = backbone_of(model)
    feats, counter, shapes = _meta_call_with_stage_shapes(model, bb, torch.empty(1, 3, *batch_hw, device="meta"))
    rows = _trunk_rows(model, bb, counter, shapes, batch_hw)
    if not isinstance(feats, dict):
        feats = OrderedDict([("0", feats)])
    levels = list(feats.values())
    if has_fpn(model):
        fpn = bb.fpn
        strides = [_stride(batch_hw[0], t.shape[-2]) for t in levels]
        rows.append(ArchRow("fpn", "neck", out_channels=int(levels[0].shape[1]),
                            stride="/".join(str(s) for s in strides),
                            out_hw=" ".join(f"{t.shape[-2]}x{t.shape[-1]}" for t in levels),
                            params=_params(fpn), flops=_module_flops(counter, bb, "fpn")))
    extra_bb = _params(bb) - sum(r.params for r in rows)
    if extra_bb:  # anything in the backbone not covered by the rows above
        rows.append(ArchRow("backbone (other)", "neck", params=extra_bb))

    rpn_head = model.rpn.head
    _, c_rpn = _meta_call(rpn_head, levels)
    n_anchors = int(rpn_head.cls_logits.out_channels)
    rows.append(ArchRow("rpn", "head", out_channels=n_anchors, stride=None,
                        out_hw=f"{n_anchors} anchors/cell x {len(levels)} level(s)",
                        params=_params(model.rpn), flops=int(c_rpn.get_total_flops())))

    roi = model.roi_heads
    n_props = int(model.rpn._post_nms_top_n.get("testing", 1000))
    out_size = roi.box_roi_pool.output_size
    oh, ow = (out_size, out_size) if isinstance(out_size, int) else tuple(out_size)
    pooled = torch.empty(n_props, int(levels[0].shape[1]), oh, ow, device="meta")
    rep, c_head = _meta_call(roi.box_head, pooled)
    rows.append(ArchRow("roi_box_head", "head", out_channels=int(rep.shape[-1]),
                        out_hw=f"{n_props} RoIs x {oh}x{ow} in",
                        params=_params(roi.box_head), flops=int(c_head.get_total_flops())))
    (cls, _reg), c_pred = _meta_call(roi.box_predictor, rep)
    rows.append(ArchRow("predictor", "head", out_channels=int(cls.shape[-1]),
                        out_hw=f"{n_props} RoIs", params=_params(roi.box_predictor),
                        flops=int(c_pred.get_total_flops())))
    rest = _params(model) - sum(r.params for r in rows)
    if rest:
        rows.append(ArchRow("other", "head", params=rest))
    rows.append(ArchRow("total", "total", params=sum(r.params for r in rows),
                        flops=sum(r.flops for r in rows)))
    notes = [
        f"input {h}x{w} -> resized {resized_hw[0]}x{resized_hw[1]} -> padded batch {batch_hw[0]}x{batch_hw[1]}",
        "FLOPs: torch.utils.flop_counter.FlopCounterMode, 2 per multiply-add (conv/linear only); "
        "GMACs = FLOPs / 2 (the ResNeXt paper's convention)",
        f"RoI head and predictor counted for {n_props} proposals (RPN post-NMS top-n at test time)",
    ]
    return ArchTable(label, (h, w), resized_hw, batch_hw, rows, notes)


TRUNK_ARCHS = ("resnet50", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "resnet101")


def trunk_table(arch: str, size: int | tuple[int, int] = 224) -> ArchTable:
    """Classifier trunk table (torchvision ``arch``, random init on meta, no download) at
    ``size``: stem, res2..res5, head (avgpool + fc), total — the ResNeXt paper's Table 1 numbers."""
    import torchvision.models as tvm

    builder = getattr(tvm, arch, None)
    if builder is None or not callable(builder):
        raise ValueError(f"unknown torchvision classifier {arch!r}; try one of {', '.join(TRUNK_ARCHS)}")
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    with torch.device("meta"):
        net = builder(weights=None)
    net.eval()
    out, counter, shapes = _meta_call_with_stage_shapes(net, net, torch.empty(1, 3, *hw, device="meta"))
    rows = _trunk_rows(net, net, counter, shapes, hw)
    rows.append(ArchRow("head", "head", out_channels=int(out.shape[-1]), out_hw="1x1",
                        params=_params(net.fc), flops=_module_flops(counter, net, "fc")))
    rows.append(ArchRow("total", "total", params=_params(net), flops=int(counter.get_total_flops())))
    notes = ["classifier trunk, FLOPs counted by FlopCounterMode (2 per multiply-add); GMACs = FLOPs / 2"]
    return ArchTable(arch, hw, hw, hw, rows, notes)
