"""Decoding images off the GUI thread, with a bounded cache and decode-ahead of neighbours.

``request(key, source)`` returns at once; the pixels arrive through the ``ready`` signal
(queued onto the GUI thread) as a plain numpy array or an error text. Only the newest
foreground request matters for the display; prefetches fill the cache at lower priority and are
dropped from the queue when the user jumps elsewhere.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from PySide6.QtCore import QObject, Signal

from rnxstudio.data.images import ImageLoadError
from rnxstudio.data.sources import Source, SourceReader

class ImageCache(QObject):
    ready = Signal(object, object, object)  # key, rgb ndarray | None, error text | None

    def __init__(self, budget_bytes: int = 160 * 1024 * 1024, parent=None):
        super().__init__(parent)
        self._budget = budget_bytes
        self._cache: OrderedDict[object, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._pending: dict[object, Future] = {}
        self._wanted: object = None
        # one thread for images the user waits for, one for speculative decode-ahead; video
        # readers are per thread because cv2.VideoCapture is not thread-safe
        self._fg = ThreadPoolExecutor(1, thread_name_prefix="rnx-decode")
        self._bg = ThreadPoolExecutor(1, thread_name_prefix="rnx-prefetch")
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
        if self._closed or key in self._pending:
            return
        self._pending[key] = self._fg.submit(self._work, key, source, True)

    def prefetch(self, items: list[tuple[object, Source]]) -> None:
        for key, source in items:
            if self._closed or self.get(key) is not None or key in self._pending:
                continue
            self._pending[key] = self._bg.submit(self._work, key, source, False)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._bytes = 0

    def shutdown(self) -> None:
        self._closed = True
        for fut in list(self._pending.values()):
            fut.cancel()
        self._fg.shutdown(wait=True, cancel_futures=True)
        self._bg.shutdown(wait=True, cancel_futures=True)

    # ---- worker side ------------------------------------------------------------------
    def _work(self, key, source: Source, foreground: bool) -> None:
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
        if arr is not None:
            self._store(key, arr)
        self._pending.pop(key, None)
        if self._closed:
            return
        if foreground or key == self._wanted:
            self.ready.emit(key, arr, error)

    def _store(self, key, arr: np.ndarray) -> None:
        with self._lock:
            if key in self._cache:
                return
            self._cache[key] = arr
            self._bytes += arr.nbytes
            while self._bytes > self._budget and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._bytes -= old.nbytes
