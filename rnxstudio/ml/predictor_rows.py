"""A box predictor for a new class list that keeps what the old one learned, class by class.

Fine-tuning a trained detector on labels that add a class (the demo: five known shapes plus
``cross``) should not throw away the box head's rows for the classes it already knows. A Faster
R-CNN predictor has one classification row per label (0 = background) and four box-regression
rows per label; :func:`carry_predictor_rows` copies the background rows and the rows of every
class whose NAME the source model knows, and starts each unknown class from rows that cannot
fire on their own (small random weights, the mean bias of the known classes) with the mean of
the known classes' box regression, so boxes are placed sensibly from the first step.
"""

from __future__ import annotations

import dataclasses

import torch
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

from rnxstudio.ml.zoo import BuiltModel


@dataclasses.dataclass(frozen=True)
class RowsReport:
    kept: tuple[str, ...]  # classes whose rows came from the source model
    new: tuple[str, ...]  # classes that start fresh

    def message(self) -> str:
        parts = []
        if self.kept:
            parts.append(f"kept the box-head rows of {', '.join(self.kept)}")
        if self.new:
            parts.append(f"new rows for {', '.join(self.new)}")
        return "; ".join(parts)


def carry_predictor_rows(built: BuiltModel, class_names: list[str]) -> tuple[BuiltModel, RowsReport]:
    """``built`` with a box predictor for ``class_names`` (backbone, FPN, RPN and box head kept).

    Rows are matched by class name; the model is changed in place and returned in a new
    BuiltModel whose ``class_names`` and ``build_kwargs`` describe the new head. With no name in
    common this is a fresh predictor (background rows still carried)."""
    names = [str(c) for c in class_names]
    if not names:
        raise ValueError("carry_predictor_rows needs at least one class name")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate class names: {names}")
    old = built.model.roi_heads.box_predictor
    w_cls, b_cls = old.cls_score.weight.detach(), old.cls_score.bias.detach()
    w_box, b_box = old.bbox_pred.weight.detach(), old.bbox_pred.bias.detach()
    new = FastRCNNPredictor(old.cls_score.in_features, len(names) + 1).to(device=w_cls.device, dtype=w_cls.dtype)
    source = {n: i + 1 for i, n in enumerate(built.class_names)}  # name -> old label
    n_old = len(built.class_names)
    with torch.no_grad():
        mean_bias = b_cls[1:].mean() if n_old else torch.zeros((), dtype=b_cls.dtype)
        fg_box_w = w_box[4:].reshape(n_old, 4, -1).mean(0) if n_old else torch.zeros_like(w_box[:4])
        fg_box_b = b_box[4:].reshape(n_old, 4).mean(0) if n_old else torch.zeros_like(b_box[:4])
        rows = [0] + [source.get(n, -1) for n in names]
        for label, src in enumerate(rows):
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
    report = RowsReport(kept=tuple(n for n in names if n in source), new=tuple(n for n in names if n not in source))
    kwargs = {**built.build_kwargs, "num_classes": len(names), "class_names": list(names)}
    out = dataclasses.replace(built, class_names=list(names), build_kwargs=kwargs, warnings=list(built.warnings),
                              category_ids=None)
    return out, report
