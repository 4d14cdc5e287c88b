"""TrainingWorker: fine-tuning (and the measurements around it) on its own QThread.

An engine QObject lives on a dedicated QThread and runs one *job* at a time: a plain callable
that receives a :class:`JobContext` (a cancel ``threading.Event`` and callbacks that relay plain
data). The jobs used by the app drive :func:`rnxstudio.ml.train.finetune` (the generator the CLI
drives too), time a few steps for the dialog's estimate, or evaluate checkpoints; none of them
touches Qt or the project store. :class:`TrainingWorker` is the GUI-side handle: its public
signals are re-emitted on the GUI thread, so anything may connect to them.

Cancel sets the job's event: ``finetune`` stops at the next step and writes a resumable
checkpoint. :meth:`TrainingWorker.shutdown` cancels, quits and joins the thread (no
"QThread: Destroyed while thread is still running").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    """Handed to a job on the worker thread."""

    job_id: int
    cancel: threading.Event
    _engine: _Engine

    def progress(self, record: Any) -> None:
        """Relay a progress record (e.g. :class:`~rnxstudio.ml.train_config.Progress`)."""
        self._engine._emit(self._engine.progress, self.job_id, record)

    def checkpoint(self, path: Any, info: dict[str, Any]) -> None:
        """``TrainConfig.on_checkpoint`` hook: relays (path, info) to the GUI thread, where the
        store (an SQLite connection owned by that thread) records it."""
        self._engine._emit(self._engine.checkpoint, self.job_id, str(path), dict(info))

    def note(self, text: str) -> None:
        self._engine._emit(self._engine.note, self.job_id, str(text))


@dataclass
class TrainOutcome:
    """What a training job returns: the checkpoint ``finetune`` returned and how it ended."""

    checkpoint: str
    cancelled: bool
    steps: int
    last_eval: Any = None  # EvalResult of the last evaluation, if any
    records: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def drive_finetune(cfg: Any, ctx: JobContext) -> TrainOutcome:
    """Run ``finetune(cfg)`` to the end, relaying every record; cancel via ``ctx.cancel``."""
    from rnxstudio.ml.train import finetune

    cfg = cfg.replace(cancel=ctx.cancel, on_checkpoint=ctx.checkpoint)
    gen = finetune(cfg)
    cancelled = False
    steps = 0
    last_eval = None
    n = 0
    try:
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                return TrainOutcome(str(stop.value), cancelled, steps, last_eval, n)
            n += 1
            steps = max(steps, p.step)
            if p.eval is not None:
                last_eval = p.eval
            if p.kind == "cancelled":
                cancelled = True
            ctx.progress(p)
    finally:
        gen.close()


class _Engine(QObject):
    """Lives on the training thread; runs submitted jobs one after another."""

    progress = Signal(int, object)
    checkpoint = Signal(int, str, object)
    note = Signal(int, str)
    finished = Signal(int, str, object)
    failed = Signal(int, str, str)

    def __init__(self, stopping: threading.Event) -> None:
        super().__init__()
        self.stopping = stopping

    def _emit(self, signal: Any, *args: Any) -> None:
        if not self.stopping.is_set():
            signal.emit(*args)

    @Slot(int, str, object, object)
    def run(self, job_id: int, kind: str, fn: Callable[[JobContext], Any], cancel: threading.Event) -> None:
        ctx = JobContext(job_id, cancel, self)
        try:
            from rnxstudio.ui.ml_import import import_ml

            # the trainer imports torchvision lazily; do it under the shared lock, or the
            # pre-labeling prewarm thread importing it at the same time can deadlock importlib
            import_ml("rnxstudio.ml.zoo", "rnxstudio.ml.checkpoint", "rnxstudio.ml.train")
            result = fn(ctx)
        except Exception as exc:  # noqa: BLE001 - every failure goes to the GUI as text
            from rnxstudio.ml.train_config import TrainingError

            if not isinstance(exc, TrainingError):
                log.exception("training job %s failed", kind)
            text = str(exc) if isinstance(exc, TrainingError) else f"{type(exc).__name__}: {exc}"
            self._emit(self.failed, job_id, kind, text)
            return
        self._emit(self.finished, job_id, kind, result)


class TrainingWorker(QObject):
    """GUI-side handle of the training thread. Signals are emitted on the GUI thread:

    * ``progress(kind, record)`` — each record a job relays (training: ``Progress``);
    * ``checkpoint_saved(path, info)`` — ``finetune``'s on_checkpoint hook;
    * ``note(kind, text)`` — free-text notes (e.g. the trainer's start message);
    * ``finished(kind, result)`` / ``failed(kind, message)`` — the job ended;
    * ``busy_changed(bool)``.
    """

    progress = Signal(str, object)
    checkpoint_saved = Signal(str, object)
    note = Signal(str, str)
    finished = Signal(str, object)
    failed = Signal(str, str)
    busy_changed = Signal(bool)

    _submit = Signal(int, str, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stopping = threading.Event()
        self._engine = _Engine(self._stopping)
        self._thread: QThread | None = None
        self._next_id = 0
        self._job: tuple[int, str, threading.Event] | None = None
        self._submit.connect(self._engine.run)
        self._engine.progress.connect(self._on_progress)
        self._engine.checkpoint.connect(self._on_checkpoint)
        self._engine.note.connect(self._on_note)
        self._engine.finished.connect(self._on_finished)
        self._engine.failed.connect(self._on_failed)

    # ------------------------------------------------------------------ control (GUI thread)
    def start(self) -> None:
        if self._thread is not None or self._stopping.is_set():
            return
        thread = QThread()
        thread.setObjectName("rnx-training")
        self._engine.moveToThread(thread)
        thread.start(QThread.LowPriority)
        self._thread = thread

    @property
    def busy(self) -> bool:
        return self._job is not None

    @property
    def current_kind(self) -> str | None:
        return self._job[1] if self._job is not None else None

    def submit(self, kind: str, fn: Callable[[JobContext], Any]) -> int:
        """Run ``fn(ctx)`` on the training thread; one job at a time (RuntimeError if busy)."""
        if self._stopping.is_set():
            raise RuntimeError("the training worker has been shut down")
        if self._job is not None:
            raise RuntimeError(f"a {self._job[1]} job is still running")
        self.start()
        self._next_id += 1
        cancel = threading.Event()
        self._job = (self._next_id, kind, cancel)
        self.busy_changed.emit(True)
        self._submit.emit(self._next_id, kind, fn, cancel)
        return self._next_id

    def cancel(self) -> None:
        """Ask the running job to stop at its next step (training leaves a resumable checkpoint)."""
        if self._job is not None:
            self._job[2].set()

    def shutdown(self, timeout_ms: int | None = None) -> bool:
        """Cancel the running job, quit and join the thread; nothing is emitted afterwards."""
        self.cancel()
        self._stopping.set()
        thread = self._thread
        if thread is None:
            return True
        thread.quit()
        joined = thread.wait() if timeout_ms is None else thread.wait(int(timeout_ms))
        if joined:
            self._thread = None
            self._job = None
        return bool(joined)

    # ------------------------------------------------------------------ relays (GUI thread)
    def _kind_of(self, job_id: int) -> str | None:
        return self._job[1] if self._job is not None and self._job[0] == job_id else None

    @Slot(int, object)
    def _on_progress(self, job_id: int, record: object) -> None:
        kind = self._kind_of(job_id)
        if kind is not None:
            self.progress.emit(kind, record)

    @Slot(int, str, object)
    def _on_checkpoint(self, job_id: int, path: str, info: object) -> None:
        if self._kind_of(job_id) is not None:
            self.checkpoint_saved.emit(path, info)

    @Slot(int, str)
    def _on_note(self, job_id: int, text: str) -> None:
        kind = self._kind_of(job_id)
        if kind is not None:
            self.note.emit(kind, text)

    def _end(self, job_id: int) -> str | None:
        kind = self._kind_of(job_id)
        if kind is not None:
            self._job = None
            self.busy_changed.emit(False)
        return kind

    @Slot(int, str, object)
    def _on_finished(self, job_id: int, _kind: str, result: object) -> None:
        kind = self._end(job_id)
        if kind is not None:
            self.finished.emit(kind, result)

    @Slot(int, str, str)
    def _on_failed(self, job_id: int, _kind: str, message: str) -> None:
        kind = self._end(job_id)
        if kind is not None:
            self.failed.emit(kind, message)
