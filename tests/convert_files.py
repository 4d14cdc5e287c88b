"""Checkpoint files with the REAL tensor names and shapes of detectron2 / mmdetection Faster R-CNN
models (random values), for conversion tests. The names are written from the frameworks' module
structure (detectron2: ResNet stem/res2-5 BottleneckBlock, FPN lateral/output, StandardRPNHead,
FastRCNNConvFCHead, FastRCNNOutputLayers; mmdetection: ResNeXt, FPN, RPNHead, Shared2FCBBoxHead),
independently of rnxstudio's key maps."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

X101_32X8D = dict(blocks=(3, 4, 23, 3), groups=32, width_per_group=8)
X101_64X4D = dict(blocks=(3, 4, 23, 3), groups=64, width_per_group=4)


def _stages(blocks, groups, width_per_group, stem=64, res2=256):
    """(stage index 0-3, block, in_channels, bottleneck, out_channels, per-group width) per block."""
    in_ch = stem
    for s, n in enumerate(blocks):
        bott, out = groups * width_per_group * 2 ** s, res2 * 2 ** s
        for b in range(n):
            yield s, b, in_ch, bott, out, width_per_group * 2 ** s
            in_ch = out


def detectron2_shapes(blocks, groups, width_per_group, num_classes=80, fpn=256, fc=1024):
    shapes: dict[str, tuple[int, ...]] = {}
    norm = ("weight", "bias", "running_mean", "running_var")
    shapes["backbone.bottom_up.stem.conv1.weight"] = (64, 3, 7, 7)
    shapes.update({f"backbone.bottom_up.stem.conv1.norm.{n}": (64,) for n in norm})
    for s, b, cin, bott, out, wpg in _stages(blocks, groups, width_per_group):
        pre = f"backbone.bottom_up.res{s + 2}.{b}"
        for k, shape in ((1, (bott, cin, 1, 1)), (2, (bott, wpg, 3, 3)), (3, (out, bott, 1, 1))):
            shapes[f"{pre}.conv{k}.weight"] = shape
            shapes.update({f"{pre}.conv{k}.norm.{n}": (shape[0],) for n in norm})
        if b == 0:
            shapes[f"{pre}.shortcut.weight"] = (out, cin, 1, 1)
            shapes.update({f"{pre}.shortcut.norm.{n}": (out,) for n in norm})
    for lvl in range(2, 6):
        cin = 256 * 2 ** (lvl - 2)
        shapes[f"backbone.fpn_lateral{lvl}.weight"], shapes[f"backbone.fpn_lateral{lvl}.bias"] = (fpn, cin, 1, 1), (fpn,)
        shapes[f"backbone.fpn_output{lvl}.weight"], shapes[f"backbone.fpn_output{lvl}.bias"] = (fpn, fpn, 3, 3), (fpn,)
    rpn = "proposal_generator.rpn_head"
    shapes.update({f"{rpn}.conv.weight": (fpn, fpn, 3, 3), f"{rpn}.conv.bias": (fpn,),
                   f"{rpn}.objectness_logits.weight": (3, fpn, 1, 1), f"{rpn}.objectness_logits.bias": (3,),
                   f"{rpn}.anchor_deltas.weight": (12, fpn, 1, 1), f"{rpn}.anchor_deltas.bias": (12,)})
    shapes.update({"roi_heads.box_head.fc1.weight": (fc, fpn * 49), "roi_heads.box_head.fc1.bias": (fc,),
                   "roi_heads.box_head.fc2.weight": (fc, fc), "roi_heads.box_head.fc2.bias": (fc,),
                   "roi_heads.box_predictor.cls_score.weight": (num_classes + 1, fc),
                   "roi_heads.box_predictor.cls_score.bias": (num_classes + 1,),
                   "roi_heads.box_predictor.bbox_pred.weight": (4 * num_classes, fc),
                   "roi_heads.box_predictor.bbox_pred.bias": (4 * num_classes,),
                   "pixel_mean": (3, 1, 1), "pixel_std": (3, 1, 1)})
    return shapes


def mmdet_shapes(blocks, groups, width_per_group, num_classes=80, fpn=256, fc=1024):
    shapes: dict[str, tuple[int, ...]] = {}
    norm = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    shapes["backbone.conv1.weight"] = (64, 3, 7, 7)
    shapes.update({f"backbone.bn1.{n}": (64,) if n != "num_batches_tracked" else () for n in norm})
    for s, b, cin, bott, out, wpg in _stages(blocks, groups, width_per_group):
        pre = f"backbone.layer{s + 1}.{b}"
        for k, shape in ((1, (bott, cin, 1, 1)), (2, (bott, wpg, 3, 3)), (3, (out, bott, 1, 1))):
            shapes[f"{pre}.conv{k}.weight"] = shape
            shapes.update({f"{pre}.bn{k}.{n}": (shape[0],) if n != "num_batches_tracked" else () for n in norm})
        if b == 0:
            shapes[f"{pre}.downsample.0.weight"] = (out, cin, 1, 1)
            shapes.update({f"{pre}.downsample.1.{n}": (out,) if n != "num_batches_tracked" else () for n in norm})
    for i in range(4):
        shapes[f"neck.lateral_convs.{i}.conv.weight"] = (fpn, 256 * 2 ** i, 1, 1)
        shapes[f"neck.lateral_convs.{i}.conv.bias"] = (fpn,)
        shapes[f"neck.fpn_convs.{i}.conv.weight"], shapes[f"neck.fpn_convs.{i}.conv.bias"] = (fpn, fpn, 3, 3), (fpn,)
    shapes.update({"rpn_head.rpn_conv.weight": (fpn, fpn, 3, 3), "rpn_head.rpn_conv.bias": (fpn,),
                   "rpn_head.rpn_cls.weight": (3, fpn, 1, 1), "rpn_head.rpn_cls.bias": (3,),
                   "rpn_head.rpn_reg.weight": (12, fpn, 1, 1), "rpn_head.rpn_reg.bias": (12,)})
    head = "roi_head.bbox_head"
    shapes.update({f"{head}.shared_fcs.0.weight": (fc, fpn * 49), f"{head}.shared_fcs.0.bias": (fc,),
                   f"{head}.shared_fcs.1.weight": (fc, fc), f"{head}.shared_fcs.1.bias": (fc,),
                   f"{head}.fc_cls.weight": (num_classes + 1, fc), f"{head}.fc_cls.bias": (num_classes + 1,),
                   f"{head}.fc_reg.weight": (4 * num_classes, fc), f"{head}.fc_reg.bias": (4 * num_classes,)})
    return shapes


def random_arrays(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    """Small random weights (no NaN or overflow through 101 layers), unit BN statistics."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, shape in shapes.items():
        if k.endswith("num_batches_tracked"):
            out[k] = np.array(0, dtype=np.int64)
        elif k.endswith("running_var") or (k.endswith("norm.weight") or ".bn" in k and k.endswith(".weight")):
            out[k] = np.ones(shape, np.float32)
        elif k == "pixel_mean":
            out[k] = np.array([103.53, 116.28, 123.675], np.float32).reshape(shape)
        elif k == "pixel_std":
            out[k] = np.array([57.375, 57.12, 58.395], np.float32).reshape(shape)
        elif len(shape) > 1:
            out[k] = (rng.standard_normal(shape, dtype=np.float32) * 0.01)
        else:
            out[k] = np.zeros(shape, np.float32)
    return out


def write_detectron2(path: Path, arrays: dict[str, np.ndarray], protocol: int = 4) -> Path:
    with open(path, "wb") as f:
        pickle.dump({"model": arrays, "__author__": "generated for tests"}, f, protocol=protocol)
    return path


def write_mmdet(path: Path, arrays: dict[str, np.ndarray], classes: tuple[str, ...] | None = None) -> Path:
    state = {k: torch.from_numpy(v) for k, v in arrays.items()}
    meta = {"mmdet_version": "2.x (generated)", "CLASSES": classes} if classes else {}
    torch.save({"meta": meta, "state_dict": state}, path)
    return path
