"""Decoding images off the GUI thread, with a bounded cache and decode-ahead of neighbours.

``request(key, source)`` returns at once; the pixels arrive through the ``ready`` signal
(queued onto the GUI thread) as a plain numpy array or an error text. Only the newest
foreground request matters for the display; prefetches fill the cache at lower priority and are
dropped from the queue when the user jumps elsewhere.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from rnxstudio.data.images import ImageLoadError
from rnxstudio.data.sources import Source, SourceReader
from rnxstudio.ui.jobs import thread_stack

log = logging.getLogger(__name__)
SHUTDOWN_JOIN_S = 10.0  # a decode still running after this at close is logged and left (daemon threads)


class _Task:
    """A queued decode; ``cancel()`` before it starts and it never runs. ``fn`` is called with
    ``args`` and the task itself (so the worker can tell its own pending entry from a newer one)."""

    __slots__ = ("fn", "args", "cancelled")

    def __init__(self, fn: Callable[..., None], args: tuple) -> None:
        self.fn, self.args, self.cancelled = fn, args, False

    def cancel(self) -> None:
        self.cancelled = True


class _DecodeThread:
    """One daemon thread running queued tasks in order. Daemon: a decode stuck in a library can
    never keep the app (or a test run) from exiting, as a ThreadPoolExecutor's worker would."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def put(self, task: _Task) -> None:
        self._queue.put(task)

    def _loop(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            if not task.cancelled:
                try:
                    task.fn(*task.args, task)
                except Exception:  # noqa: BLE001 - one bad decode must not end the thread
                    log.exception("decode task failed")

    def stop(self, timeout_s: float) -> bool:
        """Ask the thread to end after the task in hand; True once it has."""
        self._queue.put(None)
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            log.warning("%s did not stop within %s s; it is at:\n%s", self.thread.name, timeout_s,
                        thread_stack(self.thread))
            return False
        return True

class ImageCache(QObject):
    ready = Signal(object, object, object)  # key, rgb ndarray | None, error text | None
    _decoded = Signal(object, object, object, int)  # ... + generation; queued to the GUI thread

    def __init__(self, budget_bytes: int = 160 * 1024 * 1024, parent=None):
        super().__init__(parent)
        self._budget = budget_bytes
        self._cache: OrderedDict[object, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._pending: dict[object, _Task] = {}
        self._wanted: object = None
        self._generation = 0  # bumped by clear(): keys (image ids) repeat across projects
        self._decoded.connect(self._deliver)
        # one thread for images the user waits for, one for speculative decode-ahead; video
        # readers are per thread because cv2.VideoCapture is not thread-safe
        self._fg = _DecodeThread("rnx-decode")
        self._bg = _DecodeThread("rnx-prefetch")
        self._local = threading.local()
        self._closed = False

    # ---- public -----------------------------------------------------------------------
    def get(self, key) -> np.ndarray | None:
        with self._lock:
            arr = self._cache.get(key)
            if arr is not None:
                self._cache.move_to_end(key)
            return arr

    def request(self, key, source: Source) -> None:
        """Ask for ``key``; ``ready`` fires (possibly synchronously when cached)."""
        self._wanted = key
        arr = self.get(key)
        if arr is not None:
            self.ready.emit(key, arr, None)
            return
        if self._closed:
            return
        self._submit(self._fg, key, source, True)

    def prefetch(self, items: list[tuple[object, Source]]) -> None:
        for key, source in items:
            if self._closed or self.get(key) is not None:
                continue
            self._submit(self._bg, key, source, False)

    def _submit(self, thread: _DecodeThread, key, source: Source, foreground: bool) -> None:
        """Queue a decode of ``key`` unless one is pending. The pending entry is made before the
        task is queued: a broken file fails in microseconds, and a worker that finished (and
        cleared the entry) before the entry was made left it behind for good; the image, never
        cached, was then never asked for again and its error never shown (issue 13's flake)."""
        with self._lock:
            if key in self._pending:
                return
            task = self._pending[key] = _Task(self._work, (key, source, foreground, self._generation))
        thread.put(task)

    def clear(self) -> None:
        """Forget everything, decodes in flight included: the next project's image 1 is not this
        one's (a late decode of the old image 1 was shown, or blocked the new request)."""
        with self._lock:
            self._cache.clear()
            self._bytes = 0
            self._generation += 1
            pending, self._pending = list(self._pending.values()), {}
        for task in pending:
            task.cancel()

    def shutdown(self) -> None:
        self._closed = True
        with self._lock:
            pending = list(self._pending.values())
        for task in pending:
            task.cancel()
        self._fg.stop(SHUTDOWN_JOIN_S)
        self._bg.stop(SHUTDOWN_JOIN_S)

    # ---- worker side ------------------------------------------------------------------
    def _work(self, key, source: Source, foreground: bool, generation: int, task: _Task) -> None:
        if not foreground and self._wanted is not None and key == self._wanted:
            foreground = True
        reader = getattr(self._local, "reader", None)
        if reader is None:  # one per decode thread: video readers are not thread-safe
            reader = self._local.reader = SourceReader()
        arr, error = None, None
        try:
            arr = reader.read(source)
        except ImageLoadError as exc:
            error = exc.reason
        except Exception as exc:  # noqa: BLE001 - any decode failure is shown, never raised
            error = str(exc) or type(exc).__name__
        with self._lock:
            stale = generation != self._generation
            if self._pending.get(key) is task:  # a newer entry for the key (after a clear) is not ours
                del self._pending[key]
        if stale:  # cleared meanwhile: not the new project's image
            return
        if arr is not None:
            self._store(key, arr, generation)
        if self._closed:
            return
        if foreground or key == self._wanted:
            self._decoded.emit(key, arr, error, generation)

    def _deliver(self, key, arr, error, generation: int) -> None:
        """On the GUI thread: a decode finished before a clear() is not the new project's image."""
        if generation == self._generation and not self._closed:
            self.ready.emit(key, arr, error)

    def _store(self, key, arr: np.ndarray, generation: int | None = None) -> None:
        with self._lock:
            if key in self._cache or (generation is not None and generation != self._generation):
                return
            self._cache[key] = arr
            self._bytes += arr.nbytes
            while self._bytes > self._budget and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._bytes -= old.nbytes
