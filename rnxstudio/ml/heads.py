"""A box predictor for a new class list that keeps what the old one learned, class by class.

Fine-tuning a trained detector on other classes (a COCO model on a project's classes, the demo
model on the demo's five shapes plus ``cross``) should not throw away the box head's rows for the
classes it already knows. A Faster R-CNN predictor has one classification row per label
(0 = background) and four box-regression rows per label. :func:`init_predictor_from` copies the
background rows and the rows of every class that matches (by name, compared case-, space-, dash-
and underscore-insensitively, or through an explicit ``mapping`` new name -> old name), and starts
every other class from rows that cannot fire on their own (small random weights, the mean bias of
the known classes) with the mean of the known classes' box regression, so its boxes are placed
sensibly from the first step.

This is the one place a predictor is re-made with rows carried over: training from a checkpoint
(:mod:`rnxstudio.ml.train`), a shipped model asked for a project's classes
(:mod:`rnxstudio.ml.bundled`) and COCO weights (:mod:`rnxstudio.ml.zoo`) all call it; a class
mapping chosen by the user goes in as ``mapping``.
"""

from __future__ import annotations

import dataclasses
import re

import torch
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

from rnxstudio.ml.zoo import BuiltModel


def _key(name: str) -> str:
    """Names compare case-, space-, dash- and underscore-insensitively ("Traffic_Light" == "traffic light")."""
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().casefold()


def match_classes(new_names: list[str], old_names: list[str],
                  mapping: dict[str, str] | None = None) -> dict[int, int]:
    """new class index -> old class index (both 0-based, background not counted).

    ``mapping`` (new name -> old name) wins over equal names; a mapping to a name the old model
    lacks is a ValueError naming it.
    """
    old = {_key(n): i for i, n in enumerate(old_names)}
    given = {_key(k): v for k, v in (mapping or {}).items()}
    out: dict[int, int] = {}
    for i, name in enumerate(new_names):
        target = given.get(_key(name))
        if target is not None:
            if _key(target) not in old:
                raise ValueError(f"class mapping {name!r} -> {target!r}: the model has no class {target!r}")
            out[i] = old[_key(target)]
        elif _key(name) in old:
            out[i] = old[_key(name)]
    return out


@dataclasses.dataclass(frozen=True)
class RowsReport:
    """What :func:`init_predictor_from` did: ``kept`` new class -> the old class its rows came
    from (in the new list's order); ``new`` the classes that start fresh."""

    kept: dict[str, str]
    new: tuple[str, ...]

    def message(self) -> str:
        named = [n if _key(n) == _key(o) else f"{n} (from {o})" for n, o in self.kept.items()]
        parts = []
        if named:
            parts.append(f"kept the box-head rows of {', '.join(named)}")
        if self.new:
            parts.append(f"new rows for {', '.join(self.new)}")
        return "; ".join(parts)


def init_predictor_from(built: BuiltModel, class_names: list[str],
                        mapping: dict[str, str] | None = None) -> tuple[BuiltModel, RowsReport]:
    """``built`` with a box predictor for ``class_names`` (backbone, FPN, RPN and box head kept).

    The model is changed in place and returned in a new BuiltModel whose ``class_names`` and
    ``build_kwargs`` describe the new head. With no class in common this is a fresh predictor
    (background rows still carried). Raises ValueError for an empty or duplicated class list
    and for a mapping to a class the model lacks."""
    names = [str(c) for c in class_names]
    if not names:
        raise ValueError("a box predictor needs at least one class name")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate class names: {names}")
    pairs = match_classes(names, list(built.class_names), mapping)
    old = built.model.roi_heads.box_predictor
    w_cls, b_cls = old.cls_score.weight.detach(), old.cls_score.bias.detach()
    w_box, b_box = old.bbox_pred.weight.detach(), old.bbox_pred.bias.detach()
    new = FastRCNNPredictor(old.cls_score.in_features, len(names) + 1).to(device=w_cls.device, dtype=w_cls.dtype)
    n_old = w_cls.shape[0] - 1
    with torch.no_grad():
        mean_bias = b_cls[1:].mean() if n_old else torch.zeros((), dtype=b_cls.dtype)
        fg_box_w = w_box[4:].reshape(n_old, 4, -1).mean(0) if n_old else torch.zeros_like(w_box[:4])
        fg_box_b = b_box[4:].reshape(n_old, 4).mean(0) if n_old else torch.zeros_like(b_box[:4])
        sources = [0] + [pairs[i] + 1 if i in pairs else -1 for i in range(len(names))]  # old torchvision labels
        for label, src in enumerate(sources):
            box = slice(4 * label, 4 * label + 4)
            if src >= 0:
                new.cls_score.weight[label] = w_cls[src]
                new.cls_score.bias[label] = b_cls[src]
                new.bbox_pred.weight[box] = w_box[4 * src:4 * src + 4]
                new.bbox_pred.bias[box] = b_box[4 * src:4 * src + 4]
            else:
                new.cls_score.weight[label].normal_(0.0, 0.01)
                new.cls_score.bias[label] = mean_bias
                new.bbox_pred.weight[box] = fg_box_w
                new.bbox_pred.bias[box] = fg_box_b
    built.model.roi_heads.box_predictor = new
    report = RowsReport(kept={names[i]: str(built.class_names[j]) for i, j in sorted(pairs.items())},
                        new=tuple(n for i, n in enumerate(names) if i not in pairs))
    kwargs = {**built.build_kwargs, "num_classes": len(names), "class_names": list(names)}
    out = dataclasses.replace(built, class_names=list(names), build_kwargs=kwargs, warnings=list(built.warnings),
                              category_ids=None)
    return out, report
