"""Start a new box predictor from a trained one: fine-tuning a COCO detector on project classes.

A COCO model's ``cls_score`` row and 4 ``bbox_pred`` rows for "dog" already know dogs. When the
project has a "dog" class (or a mapping says which COCO class a project class corresponds to),
its rows start as copies; the background row is copied too; every other class starts fresh, as
with :func:`rnxstudio.ml.zoo.replace_predictor`.
"""

from __future__ import annotations

import re

import torch

from rnxstudio.ml import zoo


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


def init_predictor_from(built: zoo.BuiltModel, class_names: list[str],
                        mapping: dict[str, str] | None = None) -> tuple[zoo.BuiltModel, dict[str, str]]:
    """A new box predictor for ``class_names`` whose matching classes (and background) start from
    ``built``'s rows. Returns (the new BuiltModel, {new class: old class it started from})."""
    old = built.model.roi_heads.box_predictor
    old_cls_w, old_cls_b = old.cls_score.weight.detach().clone(), old.cls_score.bias.detach().clone()
    old_reg_w, old_reg_b = old.bbox_pred.weight.detach().clone(), old.bbox_pred.bias.detach().clone()
    pairs = match_classes(list(class_names), list(built.class_names), mapping)
    new_built = zoo.replace_predictor(built, class_names)
    new = new_built.model.roi_heads.box_predictor
    with torch.no_grad():
        rows = [(0, 0)] + [(i + 1, j + 1) for i, j in pairs.items()]  # torchvision labels: background is 0
        for dst, src in rows:
            new.cls_score.weight[dst] = old_cls_w[src]
            new.cls_score.bias[dst] = old_cls_b[src]
            new.bbox_pred.weight[4 * dst:4 * dst + 4] = old_reg_w[4 * src:4 * src + 4]
            new.bbox_pred.bias[4 * dst:4 * dst + 4] = old_reg_b[4 * src:4 * src + 4]
    return new_built, {class_names[i]: built.class_names[j] for i, j in pairs.items()}
