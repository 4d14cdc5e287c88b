"""Zoo members whose trained weights ship with the app (``resources/models/``), e.g. ``demo``.

They load offline, with no download: :func:`build_bundled` is what :func:`rnxstudio.ml.resolve.resolve`
calls for a spec with ``bundled`` set (the zoo itself builds only their architecture, on the meta
device, so that it does not depend on the checkpoint loader). Asked for other classes than the
checkpoint's (a project's class list), the box head keeps the rows of the classes it knows by
name and gets fresh rows for the rest (:mod:`rnxstudio.ml.heads`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rnxstudio.core.paths import resources_dir

if TYPE_CHECKING:
    from rnxstudio.ml.zoo import BuiltModel, ModelSpec


def bundled_path(spec: ModelSpec) -> Path:
    """Where ``spec``'s weights live (``resources/<spec.bundled>``)."""
    if not spec.bundled:
        raise ValueError(f"{spec.name} has no bundled weights")
    return resources_dir() / spec.bundled


def build_bundled(spec: ModelSpec, *, class_names: list[str] | None = None, min_size: int | tuple[int, ...] | None = None,
                  max_size: int | None = None, score_thresh: float | None = None, nms_thresh: float | None = None,
                  detections_per_img: int | None = None, trainable_layers: int | None = None) -> BuiltModel:
    """Load ``spec``'s shipped checkpoint (CPU, eval mode). ``class_names`` None keeps its own
    classes; otherwise the box predictor is re-made for them, rows carried by name. Size and
    threshold arguments override the checkpoint's when given. Raises ValueError when the file
    is missing or damaged (the message names the file and how to rebuild it)."""
    from rnxstudio.ml import optim
    from rnxstudio.ml.checkpoint import CheckpointError, load_checkpoint
    from rnxstudio.ml.heads import init_predictor_from

    path = bundled_path(spec)
    if not path.is_file():
        raise ValueError(f"{spec.name}: its weights file {path} is missing from this installation "
                         f"(rebuild it with: {spec.rebuild_command or 'see docs/training.md'})")
    try:
        built = load_checkpoint(path)
    except CheckpointError as exc:
        raise ValueError(f"{spec.name}: {exc} (rebuild it with: {spec.rebuild_command})") from exc
    warnings = []
    if class_names is not None and list(class_names) != built.class_names:
        built, report = init_predictor_from(built, list(class_names))
        if report.new:
            warnings.append(f"{spec.name} knows {', '.join(report.kept) or 'none of these classes'}; "
                            f"{', '.join(report.new)} start untrained (fine-tune to learn them)")
    model, kw = built.model, built.build_kwargs
    if min_size is not None:
        model.transform.min_size = tuple(min_size) if isinstance(min_size, (tuple, list)) else (int(min_size),)
        kw["min_size"] = list(model.transform.min_size) if len(model.transform.min_size) > 1 else model.transform.min_size[0]
    if max_size is not None:
        model.transform.max_size = kw["max_size"] = int(max_size)
    heads = model.roi_heads
    for attr, value, key in (("score_thresh", score_thresh, "score_thresh"), ("nms_thresh", nms_thresh, "nms_thresh"),
                             ("detections_per_img", detections_per_img, "detections_per_img")):
        if value is not None:
            setattr(heads, attr, value)
            kw[key] = value
    if trainable_layers is not None:
        body = optim.backbone_body(model)
        if body is not None:
            optim.set_trainable_stages(body, trainable_layers)
        kw["trainable_layers"] = trainable_layers
    built.warnings = warnings
    return built

