"""The one worker engine: every background job of the app runs here.

A *job* is a plain function ``fn(ctx)`` that returns a value, or a generator (the ml loops:
``run_inference``, ``finetune``) whose items are relayed as they come. Jobs run on *lanes*, one
Python thread each: ``model`` (the loaded detector — pre-labeling and the inspector, so two jobs
never use one model at once) and ``train`` (fine-tuning, estimates, evaluations; a lower OS
priority). Results reach the GUI thread through one queued Qt signal; nothing here runs model
code on the GUI thread, and no worker thread pumps a Qt event loop.

* **ids and kinds** — every submit returns a :class:`Job` with an id and a kind ("predict",
  "prelabel", "train", "inspect", ...).
* **latest wins per kind** (``latest_wins=True``) — submitting a job makes the older ones of its
  kind stale: queued ones never run, a running one sees ``ctx.cancelled()``, and results that
  arrive late are dropped on the GUI thread (:attr:`JobEngine.dropped` counts them).
* **the cancel gate** — a generator job is checked at every yield: once cancelled (or stale, or
  the engine stopping) it is closed there. ``drain_on_cancel=True`` jobs (training) instead see
  ``ctx.cancel`` set and finish on their own, returning what they saved.
* **priority** — between two items of a generator job, queued jobs of a higher priority (a lower
  number) run first: the image on screen is pre-labeled while "pre-label all" is under way.

Callbacks (``on_yield``, ``on_done``, ``on_error``, ``on_abort``, and ``on_drop`` for a stale job
that never reports) run on the GUI thread.
"""

from __future__ import annotations

import contextlib
import heapq
import inspect
import itertools
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

log = logging.getLogger(__name__)

MODEL_LANE, TRAIN_LANE = "model", "train"


def thread_stack(thread: threading.Thread) -> str:
    """Where ``thread`` is now, as a formatted stack ("?" once it has ended): for the log line of a
    thread that did not stop when asked."""
    frame = sys._current_frames().get(thread.ident)
    return "".join(traceback.format_stack(frame)) if frame is not None else "?"


@dataclass
class ModelSlot:
    """The model lane's own state, touched only on that lane's thread: the predictor that
    pre-labels, the model the inspector looks at, and the open video readers."""

    predictor: Any = None
    built: Any = None
    inspect_model: Any = None
    inspect_device: str | None = None
    reader: Any = None

    def read(self, source: Any) -> Any:
        if self.reader is None:
            from rnxstudio.data.sources import SourceReader

            self.reader = SourceReader()
        return self.reader.read(source)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        self.predictor = self.built = self.inspect_model = None


@dataclass(eq=False)
class Job:
    """A submitted job (a handle on the GUI thread)."""

    id: int
    kind: str
    lane: str
    fn: Callable[[JobContext], Any] = field(repr=False)
    latest_wins: bool = False
    priority: int = 10
    drain_on_cancel: bool = False
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    callbacks: dict[str, Callable[..., Any] | None] = field(default_factory=dict, repr=False)

    def cancel(self) -> None:
        self.cancel_event.set()


class JobContext:
    """Handed to a job on its lane's thread."""

    def __init__(self, engine: JobEngine, job: Job, resources: Any) -> None:
        self._engine = engine
        self.job = job
        self.resources = resources

    @property
    def cancel(self) -> threading.Event:
        """Set when the job is cancelled, superseded (latest wins) or the engine stops: pass it to
        ml code that takes a cancel event (``run_inference``, ``TrainConfig.cancel``)."""
        return self.job.cancel_event

    def cancelled(self) -> bool:
        return self.job.cancel_event.is_set()

    def post(self, item: Any) -> None:
        """Relay ``item`` to the job's ``on_yield`` now (for hooks inside a long call)."""
        self._engine._deliver(self.job, "yield", item)


class _Relay(QObject):
    """Lives on the GUI thread; runs what the lanes post, in order."""

    posted = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.posted.connect(self._run, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _run(self, fn: Callable[[], None]) -> None:
        fn()


class _Lane:
    def __init__(self, name: str, resources: Callable[[], Any] | None, low_priority: bool) -> None:
        self.name = name
        self.make_resources = resources
        self.low_priority = low_priority
        self.heap: list[tuple[int, int, Job | None]] = []
        self.cond = threading.Condition()
        self.thread: threading.Thread | None = None


class JobEngine(QObject):
    """See the module docstring. Create on the GUI thread; always :meth:`shutdown`."""

    busy_changed = Signal(str, bool)  # lane, busy

    def __init__(self, lanes: dict[str, Callable[[], Any] | None] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        lanes = lanes if lanes is not None else {MODEL_LANE: ModelSlot, TRAIN_LANE: None}
        self._lanes = {n: _Lane(n, f, low_priority=n == TRAIN_LANE) for n, f in lanes.items()}
        self._relay = _Relay()
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._latest: dict[str, Job] = {}
        self._open: dict[int, Job] = {}  # submitted, not yet finished (GUI side)
        self._running: dict[str, int] = {n: 0 for n in self._lanes}
        self._stopping = threading.Event()
        self.dropped = 0

    # ------------------------------------------------------------------ GUI side
    def submit(self, kind: str, fn: Callable[[JobContext], Any], *, lane: str = MODEL_LANE, latest_wins: bool = False,
               priority: int = 10, drain_on_cancel: bool = False, on_yield=None, on_done=None, on_error=None,
               on_abort=None, on_drop=None) -> Job:
        job = Job(next(self._ids), kind, lane, fn, latest_wins, priority, drain_on_cancel,
                  callbacks=dict(yield_=on_yield, done=on_done, error=on_error, abort=on_abort, drop=on_drop))
        if self._stopping.is_set():  # after shutdown: a job that never runs, nothing is delivered
            job.cancel()
            return job
        if latest_wins:
            old = self._latest.get(kind)
            if old is not None:
                old.cancel()
        self._latest[kind] = job
        self._open[job.id] = job
        ln = self._lanes[lane]
        if ln.thread is None:
            ln.thread = threading.Thread(target=self._loop, args=(ln,), name=f"rnx-{lane}", daemon=True)
            ln.thread.start()
        with ln.cond:
            heapq.heappush(ln.heap, (priority, next(self._seq), job))
            ln.cond.notify()
        return job

    def cancel(self, kind: str) -> None:
        """Cancel every open job of ``kind``."""
        for job in list(self._open.values()):
            if job.kind == kind:
                job.cancel()

    def active(self, kind: str) -> Job | None:
        """The open (queued or running) job of ``kind`` that is not cancelled, if any."""
        for job in self._open.values():
            if job.kind == kind and not job.cancel_event.is_set():
                return job
        return None

    def latest(self, kind: str) -> Job | None:
        """The most recent job of ``kind`` (finished or not)."""
        return self._latest.get(kind)

    def busy(self, lane: str) -> bool:
        return any(job.lane == lane for job in self._open.values())

    def is_current(self, job: Job) -> bool:
        """False once a newer job of a latest-wins kind was submitted (or the job was cancelled)."""
        return not job.cancel_event.is_set() and (not job.latest_wins or self._latest.get(job.kind) is job)

    def alive(self) -> bool:
        return any(ln.thread is not None and ln.thread.is_alive() for ln in self._lanes.values())

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Cancel everything, stop the lanes and join their threads; nothing is delivered
        afterwards. A forward pass or training step in flight finishes first. True once joined."""
        self._stopping.set()
        for job in self._open.values():
            job.cancel()
        for ln in self._lanes.values():
            with ln.cond:
                heapq.heappush(ln.heap, (-1, next(self._seq), None))
                ln.cond.notify()
        ok = True
        for ln in self._lanes.values():
            if ln.thread is not None:
                ln.thread.join(timeout_s)
                if ln.thread.is_alive():  # left running (a daemon thread): say where it is stuck
                    ok = False
                    log.warning("the %s lane did not stop within %s s; it is at:\n%s", ln.name, timeout_s,
                                thread_stack(ln.thread))
        return ok

    def _deliver(self, job: Job, what: str, payload: Any = None) -> None:
        """Called on a lane thread: run ``job``'s callback for ``what`` on the GUI thread."""
        self._relay.posted.emit(lambda: self._on_gui(job, what, payload))

    def _on_gui(self, job: Job, what: str, payload: Any) -> None:
        if self._stopping.is_set():
            return
        if what == "started":
            self._running[job.lane] += 1
            if self._running[job.lane] == 1:
                self.busy_changed.emit(job.lane, True)
            return
        final = what in ("done", "error", "abort", "dropped")
        if final:
            self._open.pop(job.id, None)
        stale = job.latest_wins and not self.is_current(job) and what in ("yield", "done", "error")
        try:
            if stale or what == "dropped":
                self.dropped += 1
                if final and job.callbacks.get("drop") is not None:
                    job.callbacks["drop"]()
            else:
                cb = job.callbacks.get("yield_" if what == "yield" else what)
                if cb is not None:
                    cb(payload) if what != "abort" else cb()
        finally:
            if final and what != "dropped":
                self._running[job.lane] -= 1
                if self._running[job.lane] == 0:
                    self.busy_changed.emit(job.lane, False)

    # ------------------------------------------------------------------ lane threads
    def _loop(self, ln: _Lane) -> None:
        if ln.low_priority:
            with contextlib.suppress(OSError, AttributeError):  # best effort: a training step yields the CPU
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 5)
        resources = ln.make_resources() if ln.make_resources is not None else None
        try:
            while True:
                with ln.cond:
                    while not ln.heap:
                        ln.cond.wait()
                    _prio, _seq, job = heapq.heappop(ln.heap)
                if job is None:
                    return
                self._run(ln, job, resources)
        finally:
            close = getattr(resources, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()

    def _run(self, ln: _Lane, job: Job, resources: Any) -> None:
        if job.cancel_event.is_set():
            self._deliver(job, "dropped")  # superseded or cancelled while queued: never runs
            return
        self._deliver(job, "started")
        ctx = JobContext(self, job, resources)
        try:
            out = job.fn(ctx)
            if inspect.isgenerator(out):
                out = self._drive(ln, job, out, resources)
                if out is _ABORTED:
                    self._deliver(job, "abort")
                    return
        except Exception as exc:  # noqa: BLE001 - every failure goes to the GUI, as the exception
            if job.callbacks.get("error") is None:
                log.exception("%s job failed", job.kind)
            self._deliver(job, "error", exc)
            return
        self._deliver(job, "done", out)

    def _drive(self, ln: _Lane, job: Job, gen: Any, resources: Any) -> Any:
        try:
            while True:
                if job.cancel_event.is_set() and not job.drain_on_cancel:
                    return _ABORTED
                try:
                    item = next(gen)
                except StopIteration as stop:
                    return stop.value
                self._deliver(job, "yield", item)
                self._serve_between(ln, job, resources)
        finally:
            gen.close()

    def _serve_between(self, ln: _Lane, current: Job, resources: Any) -> None:
        """Run queued jobs that outrank ``current`` before its next item."""
        while not self._stopping.is_set():
            with ln.cond:
                if not ln.heap or ln.heap[0][2] is None or ln.heap[0][0] >= current.priority:
                    return
                _prio, _seq, job = heapq.heappop(ln.heap)
            self._run(ln, job, resources)


_ABORTED = object()
