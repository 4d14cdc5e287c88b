"""Inspector jobs: feature capture, Grad-CAM and architecture tables as job kinds of the one
engine (:mod:`rnxstudio.ui.jobs`), on the model lane — so inspection and pre-labeling never run
the same model at the same time.

Each kind (``inspect``, ``gradcam``, ``arch``) is latest-wins: a newer request makes older
queued ones stale and their late results are dropped. Results are plain data
(:class:`~rnxstudio.ml.introspect.hooks.InspectionResult`, ``GradCamResult``, arch tables),
delivered on the GUI thread; the panel turns them into QImages there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from rnxstudio.ui.jobs import JobContext, JobEngine
from rnxstudio.ui.ml_import import ml_lock

KINDS = ("inspect", "gradcam", "arch")


def _import_introspection() -> None:
    with ml_lock():  # torch/torchvision imports share one lock across threads
        import rnxstudio.ml.introspect.archformat  # noqa: F401
        import rnxstudio.ml.introspect.archtable  # noqa: F401
        import rnxstudio.ml.introspect.gradcam  # noqa: F401
        import rnxstudio.ml.introspect.hooks  # noqa: F401
        import rnxstudio.ml.resolve  # noqa: F401


@dataclass
class ArchJob:
    """What to tabulate: a zoo name (built on the meta device) or the loaded model (``None``)."""

    model: str | None
    input_hw: tuple[int, int]
    compare: str | None = None
    trunk: bool = False


@dataclass
class ArchResult:
    table: Any  # ArchTable
    other: Any | None  # ArchTable of the compared model, or None
    grid: Any  # archformat.Grid (single table or comparison)


def _need_model(slot: Any) -> Any:
    if slot.inspect_model is None:
        raise RuntimeError("no model loaded")
    return slot.inspect_model


def _inspect(slot: Any, rgb: np.ndarray) -> Any:
    with ml_lock():
        from rnxstudio.ml.introspect.hooks import inspect_image

    return inspect_image(_need_model(slot), rgb, device=slot.inspect_device)


def _gradcam(slot: Any, p: dict) -> Any:
    with ml_lock():
        from rnxstudio.ml.introspect.gradcam import gradcam

    return gradcam(_need_model(slot), p["rgb"], p["box"], p["label"], stage=p["stage"],
                   method=p.get("method", "gradcam"), target=p.get("target", "logit"), device=slot.inspect_device)


COCO_CLASSES = 90


def _class_count(slot: Any, name: str | None) -> int:
    """Foreground classes of what is tabulated: the loaded model's own, a zoo model's COCO 90."""
    if name is not None:
        return COCO_CLASSES
    with ml_lock():
        from rnxstudio.ml.introspect.archtable import unwrap_model

    names = getattr(_need_model(slot), "class_names", None)
    if names:
        return len(names)
    return int(unwrap_model(_need_model(slot)).roi_heads.box_predictor.cls_score.out_features) - 1


def _table(slot: Any, name: str | None, job: ArchJob, classes: int = COCO_CLASSES) -> Any:
    with ml_lock():
        from rnxstudio.ml.introspect.archtable import arch_table, trunk_table

    if job.trunk:
        with ml_lock():
            from rnxstudio.ml.zoo import MODELS

        arch = MODELS[name].arch if name in MODELS else name
        return trunk_table(arch, job.input_hw)
    if name is None:
        return arch_table(_need_model(slot), job.input_hw)
    import torch

    with ml_lock():
        from rnxstudio.ml.resolve import resolve

    with torch.device("meta"):
        built = resolve(name, class_names=[f"class_{k}" for k in range(1, classes + 1)], pretrained_backbone=False,
                        allow_download=False)
    return arch_table(built, job.input_hw, name=name)


def _arch(slot: Any, job: ArchJob) -> ArchResult:
    with ml_lock():
        from rnxstudio.ml.introspect import archformat as af

    # both sides with the same number of classes: a compare is about the architectures, and a
    # 5-class head beside a 90-class one showed a difference no choice of backbone makes
    classes = COCO_CLASSES if job.trunk else _class_count(slot, job.model)
    table = _table(slot, job.model, job, classes)
    if job.compare:
        other = _table(slot, job.compare, job, classes)
        return ArchResult(table, other, af.compare(table, other))
    return ArchResult(table, None, af.table_grid(table))


_RUN = {"inspect": _inspect, "gradcam": _gradcam, "arch": _arch}


class InspectorJobs(QObject):
    """Submits inspector jobs; every public signal is emitted on the GUI thread."""

    inspected = Signal(int, object)  # job id, InspectionResult
    gradcam_ready = Signal(int, object)  # job id, GradCamResult
    arch_ready = Signal(int, object)  # job id, ArchResult
    failed = Signal(str, str)  # job kind, message
    busy = Signal(bool)

    def __init__(self, engine: JobEngine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.jobs_run = 0  # jobs actually executed (stale ones skipped are not counted)
        self._open = 0

    def set_model(self, model_or_built: Any, device: str | None = None) -> None:
        """Inspect this (already loaded) model; ``device`` None = where its parameters are."""

        def use(ctx: JobContext) -> None:
            ctx.resources.inspect_model, ctx.resources.inspect_device = model_or_built, device

        self.engine.submit("inspect_model", use, latest_wins=True, priority=0)

    def _queue(self, kind: str, payload: object) -> int:
        signal = {"inspect": self.inspected, "gradcam": self.gradcam_ready, "arch": self.arch_ready}[kind]

        def run(ctx: JobContext) -> Any:
            _import_introspection()
            self.jobs_run += 1  # only the model lane writes this
            return _RUN[kind](ctx.resources, payload)

        self._busy(+1)
        job = self.engine.submit(kind, run, latest_wins=True, priority=2,
                                 on_done=lambda res: (self._busy(-1), signal.emit(job.id, res)),
                                 on_error=lambda exc: (self._busy(-1), self.failed.emit(kind, f"{kind}: {exc}")),
                                 on_abort=lambda: self._busy(-1), on_drop=lambda: self._busy(-1))
        return job.id

    def _busy(self, delta: int) -> None:
        before, self._open = self._open, max(0, self._open + delta)
        if bool(before) != bool(self._open):
            self.busy.emit(bool(self._open))

    def inspect(self, rgb: np.ndarray) -> int:
        """One forward with feature capture; result via :attr:`inspected`."""
        return self._queue("inspect", rgb)

    def gradcam(self, rgb: np.ndarray, box: Any, label: int, stage: str = "res5", *,
                method: str = "gradcam", target: str = "logit") -> int:
        """Grad-CAM of one detection; result via :attr:`gradcam_ready`."""
        return self._queue("gradcam", dict(rgb=rgb, box=np.asarray(box, dtype=np.float64), label=int(label),
                                           stage=stage, method=method, target=target))

    def arch(self, model: str | None, input_hw: tuple[int, int], compare: str | None = None,
             trunk: bool = False) -> int:
        """Architecture table of zoo model ``model`` (None = the loaded model), optionally
        compared with ``compare``; result via :attr:`arch_ready`."""
        return self._queue("arch", ArchJob(model, (int(input_hw[0]), int(input_hw[1])), compare, trunk))
