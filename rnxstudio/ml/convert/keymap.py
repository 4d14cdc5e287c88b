"""Tensor names and layouts: detectron2 and mmdetection Faster R-CNN -> torchvision.

Every source name must match exactly one rule (or a rule that drops it); anything else is
refused by name, and so is every torchvision tensor no source tensor fills. Names were checked
against the frameworks' own modules (detectron2 ``ResNet``/``BottleneckBlock``/``FPN``/
``StandardRPNHead``/``FastRCNNConvFCHead``/``FastRCNNOutputLayers``; mmdetection ``ResNeXt``,
``FPN``, ``RPNHead``, ``Shared2FCBBoxHead``) and against torchvision's ``FasterRCNN`` built by
:mod:`rnxstudio.ml.convert.arch`. docs/adr/0010-converted-coco-models.md lists them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]
NORM = r"(weight|bias|running_mean|running_var)"


def _rules(pairs: list[tuple[str, str | Callable[[re.Match[str]], str]]]) -> list[Rule]:
    out = []
    for pattern, target in pairs:
        fn = target if callable(target) else (lambda m, t=target: m.expand(t))
        out.append((re.compile(pattern + r"\Z"), fn))
    return out


def _stage(m: re.Match[str]) -> int:
    return int(m.group(1)) - 1  # detectron2 res2..res5 -> torchvision layer1..layer4


DETECTRON2 = _rules([
    (r"backbone\.bottom_up\.stem\.conv1\.weight", "backbone.body.conv1.weight"),
    (rf"backbone\.bottom_up\.stem\.conv1\.norm\.{NORM}", r"backbone.body.bn1.\1"),
    (r"backbone\.bottom_up\.res([2-5])\.(\d+)\.conv([1-3])\.weight",
     lambda m: f"backbone.body.layer{_stage(m)}.{m[2]}.conv{m[3]}.weight"),
    (rf"backbone\.bottom_up\.res([2-5])\.(\d+)\.conv([1-3])\.norm\.{NORM}",
     lambda m: f"backbone.body.layer{_stage(m)}.{m[2]}.bn{m[3]}.{m[4]}"),
    (r"backbone\.bottom_up\.res([2-5])\.0\.shortcut\.weight",
     lambda m: f"backbone.body.layer{_stage(m)}.0.downsample.0.weight"),
    (rf"backbone\.bottom_up\.res([2-5])\.0\.shortcut\.norm\.{NORM}",
     lambda m: f"backbone.body.layer{_stage(m)}.0.downsample.1.{m[2]}"),
    (r"backbone\.fpn_lateral([2-5])\.(weight|bias)", lambda m: f"backbone.fpn.inner_blocks.{int(m[1]) - 2}.0.{m[2]}"),
    (r"backbone\.fpn_output([2-5])\.(weight|bias)", lambda m: f"backbone.fpn.layer_blocks.{int(m[1]) - 2}.0.{m[2]}"),
    (r"proposal_generator\.rpn_head\.conv\.(weight|bias)", r"rpn.head.conv.0.0.\1"),
    (r"proposal_generator\.rpn_head\.objectness_logits\.(weight|bias)", r"rpn.head.cls_logits.\1"),
    (r"proposal_generator\.rpn_head\.anchor_deltas\.(weight|bias)", r"rpn.head.bbox_pred.\1"),
    (r"roi_heads\.box_head\.fc1\.(weight|bias)", r"roi_heads.box_head.fc6.\1"),
    (r"roi_heads\.box_head\.fc2\.(weight|bias)", r"roi_heads.box_head.fc7.\1"),
    (r"roi_heads\.box_predictor\.cls_score\.(weight|bias)", r"roi_heads.box_predictor.cls_score.\1"),
    (r"roi_heads\.box_predictor\.bbox_pred\.(weight|bias)", r"roi_heads.box_predictor.bbox_pred.\1"),
])
# read separately (pixel_mean/std -> normalisation) or recomputed by us (anchors)
DETECTRON2_DROP = [re.compile(p + r"\Z") for p in (
    r"pixel_mean", r"pixel_std", r"proposal_generator\.anchor_generator\.cell_anchors\.\d+", r".*\.num_batches_tracked",
)]

MMDET = _rules([
    (r"backbone\.conv1\.weight", "backbone.body.conv1.weight"),
    (rf"backbone\.bn1\.{NORM}", r"backbone.body.bn1.\1"),
    (r"backbone\.layer([1-4])\.(\d+)\.conv([1-3])\.weight", r"backbone.body.layer\1.\2.conv\3.weight"),
    (rf"backbone\.layer([1-4])\.(\d+)\.bn([1-3])\.{NORM}", r"backbone.body.layer\1.\2.bn\3.\4"),
    (r"backbone\.layer([1-4])\.0\.downsample\.0\.weight", r"backbone.body.layer\1.0.downsample.0.weight"),
    (rf"backbone\.layer([1-4])\.0\.downsample\.1\.{NORM}", r"backbone.body.layer\1.0.downsample.1.\2"),
    (r"neck\.lateral_convs\.([0-3])\.conv\.(weight|bias)", r"backbone.fpn.inner_blocks.\1.0.\2"),
    (r"neck\.fpn_convs\.([0-3])\.conv\.(weight|bias)", r"backbone.fpn.layer_blocks.\1.0.\2"),
    (r"rpn_head\.rpn_conv\.(weight|bias)", r"rpn.head.conv.0.0.\1"),
    (r"rpn_head\.rpn_cls\.(weight|bias)", r"rpn.head.cls_logits.\1"),
    (r"rpn_head\.rpn_reg\.(weight|bias)", r"rpn.head.bbox_pred.\1"),
    (r"roi_head\.bbox_head\.shared_fcs\.0\.(weight|bias)", r"roi_heads.box_head.fc6.\1"),
    (r"roi_head\.bbox_head\.shared_fcs\.1\.(weight|bias)", r"roi_heads.box_head.fc7.\1"),
    (r"roi_head\.bbox_head\.fc_cls\.(weight|bias)", r"roi_heads.box_predictor.cls_score.\1"),
    (r"roi_head\.bbox_head\.fc_reg\.(weight|bias)", r"roi_heads.box_predictor.bbox_pred.\1"),
])
MMDET_DROP = [re.compile(r".*\.num_batches_tracked\Z")]

FRAMEWORK_RULES = {"detectron2": (DETECTRON2, DETECTRON2_DROP), "mmdet": (MMDET, MMDET_DROP)}


class KeyMapError(ValueError):
    """Unknown, duplicate or missing tensors; the message names them."""


def rename(state: dict[str, torch.Tensor], framework: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(torchvision-named tensors, torchvision name -> source name). Refuses unknown names."""
    rules, drops = FRAMEWORK_RULES[framework]
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unknown = []
    for key, value in state.items():
        if any(d.match(key) for d in drops):
            continue
        for pattern, fn in rules:
            m = pattern.match(key)
            if m:
                new = fn(m)
                if new in out:
                    raise KeyMapError(f"tensors {origin[new]} and {key} both map to {new}")
                out[new], origin[new] = value, key
                break
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else "")
        raise KeyMapError(f"unknown tensor names for a {framework} Faster R-CNN (ResNe(X)t-FPN): {shown}")
    return out, origin


_REVERSE = {
    "detectron2": _rules([
        (r"backbone\.body\.conv1\.weight", "backbone.bottom_up.stem.conv1.weight"),
        (r"backbone\.body\.bn1\.(\w+)", r"backbone.bottom_up.stem.conv1.norm.\1"),
        (r"backbone\.body\.layer([1-4])\.(\d+)\.conv([1-3])\.weight",
         lambda m: f"backbone.bottom_up.res{int(m[1]) + 1}.{m[2]}.conv{m[3]}.weight"),
        (r"backbone\.body\.layer([1-4])\.(\d+)\.bn([1-3])\.(\w+)",
         lambda m: f"backbone.bottom_up.res{int(m[1]) + 1}.{m[2]}.conv{m[3]}.norm.{m[4]}"),
        (r"backbone\.body\.layer([1-4])\.0\.downsample\.0\.weight",
         lambda m: f"backbone.bottom_up.res{int(m[1]) + 1}.0.shortcut.weight"),
        (r"backbone\.body\.layer([1-4])\.0\.downsample\.1\.(\w+)",
         lambda m: f"backbone.bottom_up.res{int(m[1]) + 1}.0.shortcut.norm.{m[2]}"),
        (r"backbone\.fpn\.inner_blocks\.([0-3])\.0\.(\w+)", lambda m: f"backbone.fpn_lateral{int(m[1]) + 2}.{m[2]}"),
        (r"backbone\.fpn\.layer_blocks\.([0-3])\.0\.(\w+)", lambda m: f"backbone.fpn_output{int(m[1]) + 2}.{m[2]}"),
        (r"rpn\.head\.conv\.0\.0\.(\w+)", r"proposal_generator.rpn_head.conv.\1"),
        (r"rpn\.head\.cls_logits\.(\w+)", r"proposal_generator.rpn_head.objectness_logits.\1"),
        (r"rpn\.head\.bbox_pred\.(\w+)", r"proposal_generator.rpn_head.anchor_deltas.\1"),
        (r"roi_heads\.box_head\.fc6\.(\w+)", r"roi_heads.box_head.fc1.\1"),
        (r"roi_heads\.box_head\.fc7\.(\w+)", r"roi_heads.box_head.fc2.\1"),
    ]),
    "mmdet": _rules([
        (r"backbone\.body\.(.+)", r"backbone.\1"),
        (r"backbone\.fpn\.inner_blocks\.([0-3])\.0\.(\w+)", r"neck.lateral_convs.\1.conv.\2"),
        (r"backbone\.fpn\.layer_blocks\.([0-3])\.0\.(\w+)", r"neck.fpn_convs.\1.conv.\2"),
        (r"rpn\.head\.conv\.0\.0\.(\w+)", r"rpn_head.rpn_conv.\1"),
        (r"rpn\.head\.cls_logits\.(\w+)", r"rpn_head.rpn_cls.\1"),
        (r"rpn\.head\.bbox_pred\.(\w+)", r"rpn_head.rpn_reg.\1"),
        (r"roi_heads\.box_head\.fc6\.(\w+)", r"roi_head.bbox_head.shared_fcs.0.\1"),
        (r"roi_heads\.box_head\.fc7\.(\w+)", r"roi_head.bbox_head.shared_fcs.1.\1"),
        (r"roi_heads\.box_predictor\.cls_score\.(\w+)", r"roi_head.bbox_head.fc_cls.\1"),
        (r"roi_heads\.box_predictor\.bbox_pred\.(\w+)", r"roi_head.bbox_head.fc_reg.\1"),
    ]),
}


def source_name(target: str, framework: str) -> str:
    """The source framework's name for torchvision tensor ``target`` (for error messages)."""
    for pattern, fn in _REVERSE.get(framework, []):
        m = pattern.match(target)
        if m:
            return fn(m)
    return target


def head_to_torchvision(state: dict[str, torch.Tensor], source: str) -> int:
    """Move the background class first and pad the box regression for torchvision's layout, in
    place; returns the number of foreground classes.

    Both frameworks score K foreground classes then background (K + 1 rows, background LAST) and
    regress 4 numbers per foreground class (4K rows). torchvision scores background FIRST and
    regresses for all K + 1 labels (4 rows of the background slot are never used).
    """
    cls_w = state.get("roi_heads.box_predictor.cls_score.weight")
    reg_w = state.get("roi_heads.box_predictor.bbox_pred.weight")
    if cls_w is None or reg_w is None:
        missing = "cls_score" if cls_w is None else "bbox_pred"
        raise KeyMapError(f"{source}: missing the box predictor's {missing} weights")
    k = cls_w.shape[0] - 1
    if k < 1:
        raise KeyMapError(f"{source}: cls_score has {cls_w.shape[0]} rows; expected classes + background")
    if reg_w.shape[0] == 4:
        raise KeyMapError(f"{source}: class-agnostic box regression (bbox_pred has 4 rows) is not supported")
    if reg_w.shape[0] != 4 * k:
        raise KeyMapError(f"{source}: bbox_pred has {reg_w.shape[0]} rows; expected 4 x {k} classes = {4 * k}")
    for leaf in ("weight", "bias"):
        key = f"roi_heads.box_predictor.cls_score.{leaf}"
        t = state[key]
        state[key] = torch.cat((t[k:], t[:k]))
        key = f"roi_heads.box_predictor.bbox_pred.{leaf}"
        t = state[key]
        state[key] = torch.cat((torch.zeros_like(t[:4]), t))
    return k


def swap_input_channels(state: dict[str, torch.Tensor]) -> None:
    """Turn a first conv that expects BGR input into one that expects RGB (in place)."""
    key = "backbone.body.conv1.weight"
    state[key] = state[key][:, [2, 1, 0]].contiguous()
