"""Locate the named stages of a torchvision-style detector (or a bare backbone).

Stage names used across the inspector:

* ``stem``   output of the stem max-pool (stride 4 in a ResNet)
* ``res2``..``res5``  outputs of ``layer1``..``layer4`` (one bottleneck sequence each)
* ``P2``..``P6``  FPN outputs, named from their stride (``P{log2 stride}``): torchvision's keys
  ``"0".."3"`` and ``"pool"`` become P2..P5 and P6
* ``rpn/P2``..  RPN objectness (sigmoid of the head's ``cls_logits``) per feature level; for a
  one-map (C4) model the single level is named after its stride too (``rpn/C5``... see below)

Discovery is structural (child order and module types), so it works for torchvision's
``IntermediateLayerGetter`` (FPN models), the one-map ``C4Trunk`` (an ``nn.Sequential`` with
numeric child names) and the tiny ResNeXt.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from torch import nn

RES_NAMES = ("res2", "res3", "res4", "res5")


def unwrap_model(model_or_built: object) -> nn.Module:
    """Accept a ``BuiltModel`` (anything with a ``.model`` nn.Module) or a bare nn.Module."""
    inner = getattr(model_or_built, "model", None)
    if isinstance(inner, nn.Module):
        return inner
    if isinstance(model_or_built, nn.Module):
        return model_or_built
    raise TypeError(f"expected a torch nn.Module or a BuiltModel, got {type(model_or_built).__name__}")


def backbone_of(model: nn.Module) -> nn.Module:
    """The detector's backbone (``model.backbone``), or the module itself if it is one."""
    return getattr(model, "backbone", model)


def trunk_of(model: nn.Module) -> nn.Module:
    """The convolutional trunk: ``backbone.body`` for FPN models, else the backbone itself."""
    bb = backbone_of(model)
    return getattr(bb, "body", bb)


def _is_block_sequence(m: nn.Module) -> bool:
    if not isinstance(m, nn.Sequential) or len(m) == 0:
        return False
    first = m[0]
    return hasattr(first, "conv1") and hasattr(first, "conv2")


def trunk_stages(model: nn.Module) -> "OrderedDict[str, nn.Module]":
    """``stem`` and ``res2``.. modules of the trunk, in forward order.

    ``stem`` is the max-pool after conv1 (or conv1's activation if there is no pool).
    Raises ValueError when the trunk has no recognisable ResNet-style stages.
    """
    trunk = trunk_of(model)
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    stem: nn.Module | None = None
    last_before: nn.Module | None = None
    res_i = 0
    for _name, child in trunk.named_children():
        if _is_block_sequence(child):
            if res_i == 0:
                stem = stem or last_before
                if stem is not None:
                    stages["stem"] = stem
            if res_i < len(RES_NAMES):
                stages[RES_NAMES[res_i]] = child
            res_i += 1
        elif res_i == 0:
            if isinstance(child, nn.MaxPool2d):
                stem = child
            last_before = child
    if res_i == 0:
        raise ValueError(f"{type(trunk).__name__}: no ResNet-style stages (layer1..layer4) found")
    return stages


def level_name(stride: int, *, fpn: bool) -> str:
    """``P{k}`` for FPN levels and ``C{k}`` for a plain trunk map, k = log2(stride)."""
    k = int(round(math.log2(max(1, stride))))
    return f"{'P' if fpn else 'C'}{k}"


def has_fpn(model: nn.Module) -> bool:
    return hasattr(backbone_of(model), "fpn")
