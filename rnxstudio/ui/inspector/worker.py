"""InspectorWorker: feature capture, Grad-CAM and architecture-table jobs off the GUI thread.

An engine QObject runs the jobs on a QThread — its own, or one handed in (pass the inference
thread so inspection and inference never run the same model at the same time). Each job kind
(``inspect``, ``gradcam``, ``arch``) is latest-wins: a newer request makes older queued ones
stale; the engine skips stale requests and drops stale results. Results are plain data
(:class:`~rnxstudio.ml.introspect.hooks.InspectionResult`, ``GradCamResult``, arch tables), re-
emitted on the GUI thread by this handle; the panel turns them into QImages there.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Qt, Signal, Slot

from rnxstudio.ui.ml_import import import_ml

log = logging.getLogger(__name__)

KINDS = ("inspect", "gradcam", "arch")
ML_MODULES = ("rnxstudio.ml.zoo", "rnxstudio.ml.introspect.hooks", "rnxstudio.ml.introspect.gradcam",
              "rnxstudio.ml.introspect.archtable", "rnxstudio.ml.introspect.archformat")


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


class _Shared:
    def __init__(self) -> None:
        self.latest = dict.fromkeys(KINDS, 0)
        self.stopping = threading.Event()


class _Engine(QObject):
    done = Signal(str, int, object)  # kind, request id, result
    failed = Signal(str, int, str)
    busy = Signal(bool)

    def __init__(self, shared: _Shared) -> None:
        super().__init__()
        self.shared = shared
        self.model: Any = None
        self.device: str | None = None
        self.jobs_run = 0
        self.imported = False

    def _stale(self, kind: str, rid: int) -> bool:
        return rid != self.shared.latest[kind] or self.shared.stopping.is_set()

    @Slot(object, object)
    def set_model(self, model: Any, device: object) -> None:
        self.model = model
        self.device = None if device is None else str(device)

    @Slot(str, int, object)
    def run(self, kind: str, rid: int, payload: object) -> None:
        if self._stale(kind, rid):
            return
        if not self.shared.stopping.is_set():
            self.busy.emit(True)
        try:
            if not self.imported:  # torch/torchvision imports share one lock across threads
                import_ml(*ML_MODULES)
                self.imported = True
            self.jobs_run += 1
            result = getattr(self, "_" + kind)(payload)
            if not self._stale(kind, rid):
                self.done.emit(kind, rid, result)
        except Exception as exc:  # noqa: BLE001 - reported to the GUI as one line of text
            log.exception("inspector %s job failed", kind)
            if not self._stale(kind, rid):
                self.failed.emit(kind, rid, f"{kind}: {exc}")
        finally:
            if not self.shared.stopping.is_set():
                self.busy.emit(False)

    def _need_model(self) -> Any:
        if self.model is None:
            raise RuntimeError("no model loaded")
        return self.model

    def _inspect(self, rgb: np.ndarray) -> Any:
        from rnxstudio.ml.introspect.hooks import inspect_image

        return inspect_image(self._need_model(), rgb, device=self.device)

    def _gradcam(self, p: dict) -> Any:
        from rnxstudio.ml.introspect.gradcam import gradcam

        return gradcam(self._need_model(), p["rgb"], p["box"], p["label"], stage=p["stage"],
                       method=p.get("method", "gradcam"), target=p.get("target", "logit"), device=self.device)

    def _table(self, name: str | None, job: ArchJob) -> Any:
        from rnxstudio.ml.introspect.archtable import arch_table, trunk_table

        if job.trunk:
            from rnxstudio.ml.zoo import MODELS

            arch = MODELS[name].arch if name in MODELS else name
            return trunk_table(arch, job.input_hw)
        if name is None:
            return arch_table(self._need_model(), job.input_hw)
        import torch

        from rnxstudio.ml.zoo import build_model

        with torch.device("meta"):
            built = build_model(name, num_classes=90, pretrained_backbone=False, allow_download=False)
        return arch_table(built, job.input_hw, name=name)

    def _arch(self, job: ArchJob) -> ArchResult:
        from rnxstudio.ml.introspect import archformat as af

        table = self._table(job.model, job)
        if job.compare:
            other = self._table(job.compare, job)
            return ArchResult(table, other, af.compare(table, other))
        return ArchResult(table, None, af.table_grid(table))


class InspectorWorker(QObject):
    """GUI-side handle. Create on the GUI thread, connect signals, :meth:`start`, and always
    :meth:`shutdown`. All public signals are emitted on the GUI thread."""

    inspected = Signal(int, object)  # request id, InspectionResult
    gradcam_ready = Signal(int, object)  # request id, GradCamResult
    arch_ready = Signal(int, object)  # request id, ArchResult
    failed = Signal(str, str)  # job kind, message
    busy = Signal(bool)

    _submit = Signal(str, int, object)
    _model = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._shared = _Shared()
        self._engine = _Engine(self._shared)
        self._thread: QThread | None = None
        self._owns_thread = False
        self._next = 0
        q = Qt.ConnectionType.QueuedConnection
        self._submit.connect(self._engine.run, q)
        self._model.connect(self._engine.set_model, q)
        self._engine.done.connect(self._relay_done, q)
        self._engine.failed.connect(self._relay_failed, q)
        self._engine.busy.connect(self._relay_busy, q)

    # ------------------------------------------------------------ control
    def start(self, thread: QThread | None = None) -> QThread:
        """Run jobs on ``thread`` (e.g. the inference thread; must be running) or on a new one."""
        if self._thread is not None or self._shared.stopping.is_set():
            raise RuntimeError("InspectorWorker can be started once")
        if thread is None:
            thread = QThread()
            thread.setObjectName("rnx-inspector")
            self._owns_thread = True
        self._engine.moveToThread(thread)
        if self._owns_thread:
            thread.start()
        self._thread = thread
        return thread

    @property
    def jobs_run(self) -> int:
        """Jobs actually executed (stale ones skipped are not counted)."""
        return self._engine.jobs_run

    def set_model(self, model_or_built: Any, device: str | None = None) -> None:
        """Use this (already loaded) model; ``device`` None = where its parameters are."""
        self._model.emit(model_or_built, device)

    def _queue(self, kind: str, payload: object) -> int:
        self._next += 1
        self._shared.latest[kind] = self._next
        self._submit.emit(kind, self._next, payload)
        return self._next

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

    def shutdown(self, timeout_ms: int | None = None) -> bool:
        """Stop emitting; quit and join an owned thread (a handed-in thread is left running).
        Returns True once the owned thread has ended (or when the thread was not ours)."""
        self._shared.stopping.set()
        for k in KINDS:
            self._shared.latest[k] = -1
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        if not self._owns_thread:
            # the engine lives on someone else's running thread: let that thread delete it
            # once any job in flight has returned (never delete it from here)
            self._engine.deleteLater()
            return True
        thread.quit()
        ok = thread.wait() if timeout_ms is None else thread.wait(int(timeout_ms))
        if not ok:
            log.warning("inspector thread still busy after %s ms", timeout_ms)
            self._thread = thread
        return bool(ok)

    # ------------------------------------------------- relays (GUI thread)
    @Slot(str, int, object)
    def _relay_done(self, kind: str, rid: int, result: object) -> None:
        if self._shared.stopping.is_set() or rid != self._shared.latest[kind]:
            return
        {"inspect": self.inspected, "gradcam": self.gradcam_ready, "arch": self.arch_ready}[kind].emit(rid, result)

    @Slot(str, int, str)
    def _relay_failed(self, kind: str, rid: int, message: str) -> None:
        if not self._shared.stopping.is_set() and rid == self._shared.latest[kind]:
            self.failed.emit(kind, message)

    @Slot(bool)
    def _relay_busy(self, on: bool) -> None:
        if not self._shared.stopping.is_set():
            self.busy.emit(on)
