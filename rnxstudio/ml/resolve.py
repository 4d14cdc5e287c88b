"""The one way from "the model the user named" to a built detector.

:func:`resolve` takes a zoo name, a checkpoint (an rnxstudio ``.safetensors`` with its JSON
sidecar, or one converted from another framework the same way) or imported weights (a bare
``.pth``/``.pt``/``.safetensors`` state dict plus ``arch`` and class names) and returns a
:class:`~rnxstudio.ml.zoo.BuiltModel`. Pre-labeling, ``rnxstudio predict``/``eval``/``train``,
the before/after evaluation and the inspector all call it, so a model that loads in one loads in
all of them. (It lives beside the zoo rather than in it: ``ml.checkpoint`` builds through
``ml.zoo``, so the zoo cannot import the checkpoint loader back.)
"""

from __future__ import annotations

import os
from typing import Any

from rnxstudio.ml.checkpoint import CheckpointError, load_checkpoint
from rnxstudio.ml.zoo import MODELS, BuiltModel, build_model

__all__ = ["MODELS", "ModelRefError", "resolve", "is_model_ref"]


class ModelRefError(ValueError):
    """A model reference that cannot be built or loaded; the message says which and why."""


def is_model_ref(ref: str | os.PathLike) -> bool:
    """True when ``ref`` names a zoo model or an existing file (a cheap check before any build)."""
    return str(ref) in MODELS or os.path.isfile(os.fspath(ref))


def resolve(ref: str | os.PathLike | BuiltModel, *, class_names: list[str] | None = None, arch: str | None = None,
            pretrained_backbone: bool = True, backbone_weights: str | None = None, coco_weights: bool = False,
            min_size: int | None = None, max_size: int | None = None, **build_kwargs: Any) -> BuiltModel:
    """Build or load the model ``ref`` names.

    * a :class:`BuiltModel` is returned as it is;
    * an existing file is a checkpoint: its sidecar says how to rebuild it; without one, ``arch``
      (a zoo name) and ``class_names`` describe bare weights;
    * a zoo name builds that member for ``class_names`` (default one class, "object"; torchvision's
      90 COCO labels with ``coco_weights`` and no names; a member whose trained weights ship with
      the app, e.g. ``demo``, keeps its own classes when no names are given), with ImageNet backbone weights when
      ``pretrained_backbone`` and they are available (or ``backbone_weights``, a file).

    ``min_size``/``max_size`` set the input resize of either kind. Other keywords go to
    :func:`~rnxstudio.ml.zoo.build_model`. Raises :class:`ModelRefError`.
    """
    if isinstance(ref, BuiltModel):
        return ref
    text = os.fspath(ref)
    if os.path.isfile(text):
        try:
            built = load_checkpoint(text, model_name=arch, class_names=class_names)
        except CheckpointError as exc:
            raise ModelRefError(str(exc)) from exc
        if min_size:
            built.model.transform.min_size = (int(min_size),)
        if max_size:
            built.model.transform.max_size = int(max_size)
        return built
    if text not in MODELS:
        raise ModelRefError(f"{text!r} is neither a zoo model ({', '.join(MODELS)}) nor a file")
    spec = MODELS[text]
    if spec.bundled:  # trained weights that ship with the app: its own classes unless names are given
        return _bundled(spec, class_names, min_size, max_size, build_kwargs)
    names = class_names or (None if coco_weights else ["object"])
    kw = dict(build_kwargs)
    if min_size:
        kw["min_size"] = min_size
    if max_size:
        kw["max_size"] = max_size
    try:
        return build_model(text, num_classes=len(names) if names else 90, class_names=names,
                           pretrained_backbone=pretrained_backbone, backbone_weights_path=backbone_weights,
                           coco_weights=coco_weights, **kw)
    except (KeyError, ValueError) as exc:
        raise ModelRefError(str(exc.args[0] if exc.args else exc)) from exc


_BUNDLED_KEYS = ("score_thresh", "nms_thresh", "detections_per_img", "trainable_layers")


def _bundled(spec, class_names, min_size, max_size, build_kwargs: dict[str, Any]) -> BuiltModel:
    from rnxstudio.ml.bundled import build_bundled

    kw = {k: v for k, v in build_kwargs.items() if k in _BUNDLED_KEYS}
    other = sorted(k for k, v in build_kwargs.items() if k not in _BUNDLED_KEYS and k != "allow_download"
                   and v is not None)
    if other:
        raise ModelRefError(f"{spec.name} is a trained model; its architecture is fixed ({', '.join(other)} "
                            "cannot be changed)")
    try:
        return build_bundled(spec, class_names=list(class_names) if class_names else None, min_size=min_size,
                             max_size=max_size, **kw)
    except ValueError as exc:
        raise ModelRefError(str(exc)) from exc
