"""InferenceWorker: the detector in the loop, on its own QThread.

An engine QObject is moved to a dedicated QThread and owns the predictor there; nothing here
runs model code on the GUI thread. :class:`InferenceWorker` is the GUI-side handle: it owns the
thread and the engine, and re-emits the engine's results *on the GUI thread* (PySide runs a
plain-callable slot in the emitting thread, so a lambda connected straight to a worker-thread
signal would run on the worker; the handle makes every public signal safe to connect to
anything). The GUI talks to the engine only through the handle, which writes thread-safe flags
and emits queued signals:

* :meth:`request` — pre-label one image. Latest wins: the GUI records the newest request id
  *before* queueing it; the worker skips any request that is no longer the newest, checks again
  after decoding and after the forward pass, and drops stale results.
* :meth:`prelabel_all` — drive :func:`rnxstudio.ml.predict.run_inference` over many images with
  ``progress(done, total, images_per_s, eta_s)``; :meth:`cancel_batch` stops it within one
  image. Between images the worker serves queued single-image requests, so pre-labeling the
  image on screen never waits for the whole batch.
* :meth:`set_model` — build (factory) or hot-swap (BuiltModel) the predictor on the worker.
* :meth:`shutdown` — stop, quit and join the thread (no "Destroyed while thread is still
  running"). A forward pass in flight finishes first; its result is discarded.

Results are plain data (Detections with numpy arrays), never Qt pixmaps.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QThread, Qt, Signal, Slot

log = logging.getLogger(__name__)

Payload = Any  # str | os.PathLike | (video_path, frame_index) | np.ndarray


class PredictorLike(Protocol):
    """The part of :class:`rnxstudio.ml.predict.Predictor` the worker uses."""

    def predict(self, images: list[np.ndarray]) -> list[Any]: ...


class _Shared:
    """Flags both threads read; written only by the GUI thread (atomic under the GIL)."""

    def __init__(self) -> None:
        self.latest = 0  # newest single-image request id
        self.cancel = threading.Event()  # stop the running batch
        self.stopping = threading.Event()  # shutting down: emit nothing more


class _Engine(QObject):
    """Lives on the inference thread; owns the predictor and any open video readers."""

    result = Signal(int, int, object)
    failed = Signal(int, int, str)
    busy = Signal(bool)
    model_ready = Signal(str)
    model_failed = Signal(str)
    progress = Signal(int, int, float, float)
    batch_item = Signal(int, object, str)
    batch_finished = Signal(int, int, bool)

    def __init__(self, shared: _Shared, predictor: PredictorLike | None, runner: Callable[..., Any] | None) -> None:
        super().__init__()
        self.shared = shared
        self.predictor = predictor
        self.runner = runner
        self.batch_running = False
        self.videos: dict[str, Any] = {}
        self.forward_passes = 0
        self.dropped = 0

    def _emit(self, signal: Any, *args: Any) -> None:
        if not self.shared.stopping.is_set():
            signal.emit(*args)

    # ------------------------------------------------------------- model
    @Slot(object, str)
    def set_model(self, model: Any, device: str) -> None:
        try:
            if callable(model) and not hasattr(model, "predict") and not hasattr(model, "model"):
                model = model()
            predictor = model if hasattr(model, "predict") else self._predictor_for(model, device)
        except Exception as exc:  # noqa: BLE001 - any build failure is reported, never raised
            log.exception("loading the model failed")
            self._emit(self.model_failed, f"cannot load the model: {exc}")
            return
        self.predictor = predictor
        names = getattr(predictor, "class_names", None)
        where = getattr(predictor, "device", "")
        desc = f"{len(names)} classes" if names is not None else type(predictor).__name__
        self._emit(self.model_ready, f"{desc} on {where}" if where else desc)

    def _predictor_for(self, built: Any, device: str) -> PredictorLike:
        current = self.predictor
        swap = getattr(current, "swap", None)
        if callable(swap) and device in ("auto", str(getattr(current, "device", ""))):
            swap(built)
            return current  # type: ignore[return-value]
        from rnxstudio.ml.predict import Predictor

        return Predictor(built, device=device)

    # ------------------------------------------------------ single image
    def _stale(self, rid: int) -> bool:
        if rid != self.shared.latest or self.shared.stopping.is_set():
            self.dropped += 1
            return True
        return False

    @Slot(int, int, object)
    def request(self, rid: int, image_id: int, payload: Payload) -> None:
        if self._stale(rid):
            return
        predictor = self.predictor
        if predictor is None:
            self._emit(self.failed, rid, image_id, "no model loaded")
            return
        self._emit(self.busy, True)
        try:
            rgb = self._load(payload)
            if self._stale(rid):
                return
            self.forward_passes += 1
            detections = predictor.predict([rgb])[0]
            if self._stale(rid):
                return
            self._emit(self.result, rid, image_id, detections)
        except Exception as exc:  # noqa: BLE001 - reported to the GUI as text
            self._emit(self.failed, rid, image_id, describe_error(payload, exc))
        finally:
            if not self.batch_running:
                self._emit(self.busy, False)

    def _load(self, payload: Payload) -> np.ndarray:
        """Decode on this (worker) thread: path, (video, frame) or an RGB array."""
        if isinstance(payload, np.ndarray):
            return payload
        if isinstance(payload, tuple) and len(payload) == 2:
            path, frame = payload
            reader = self.videos.get(str(path))
            if reader is None:
                from rnxstudio.data.video import VideoReader

                reader = self.videos[str(path)] = VideoReader(path)
            return reader.read(int(frame))
        if isinstance(payload, (str, os.PathLike)):
            from rnxstudio.data import images

            return images.load(payload)
        raise TypeError(f"cannot pre-label a {type(payload).__name__}: expected a path, (video, frame) or array")

    # ------------------------------------------------------------- batch
    @Slot(object, int)
    def batch(self, items: list[tuple[int, Payload]], batch_size: int) -> None:
        total = len(items)
        if self.batch_running:
            self._emit(self.model_failed, "a pre-label run is already in progress")
            return
        if self.predictor is None:
            self._emit(self.model_failed, "no model loaded: choose a model before pre-labeling")
            self._emit(self.batch_finished, 0, total, False)
            return
        runner = self.runner
        if runner is None:
            from rnxstudio.ml.predict import run_inference as runner
        cancel = self.shared.cancel
        self.batch_running = True
        self._emit(self.busy, True)
        done = 0
        gen = runner([src for _, src in items], self.predictor, batch_size=max(1, batch_size), cancel=cancel)
        try:
            for prog in gen:
                done = prog.index + 1
                self._emit(self.batch_item, items[prog.index][0], prog.detections, prog.error or "")
                eta = -1.0 if prog.eta_s is None else float(prog.eta_s)
                self._emit(self.progress, done, total, float(prog.images_per_s), eta)
                if cancel.is_set():
                    break
                # Serve queued single-image requests (the image on screen) between batch items.
                QCoreApplication.processEvents()
                if cancel.is_set():
                    break
        except Exception as exc:  # noqa: BLE001 - a crash in the loop ends the batch, reported
            log.exception("pre-label batch failed")
            self._emit(self.model_failed, f"pre-labeling stopped after {done} of {total} images: {exc}")
        finally:
            gen.close()
            self.batch_running = False
            self._emit(self.batch_finished, done, total, done < total)
            self._emit(self.busy, False)

    def close_videos(self) -> None:
        for reader in self.videos.values():
            close = getattr(reader, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing must not raise at shutdown
                    log.debug("closing a video reader failed", exc_info=True)
        self.videos.clear()


def describe_error(payload: Payload, exc: BaseException) -> str:
    """One line naming the file (or frame) and the problem."""
    from rnxstudio.data.images import ImageLoadError

    if isinstance(exc, ImageLoadError):
        return f"cannot read {exc.path}: {exc.reason}"
    if isinstance(payload, tuple) and len(payload) == 2:
        return f"{payload[0]} frame {payload[1]}: {exc}"
    where = f"{payload}: " if isinstance(payload, (str, os.PathLike)) else ""
    return f"{where}inference failed: {exc}"


class InferenceWorker(QObject):
    """GUI-side handle of the inference thread. Create it on the GUI thread, connect its
    signals (all emitted on the GUI thread), then :meth:`start`. Always :meth:`shutdown`."""

    result = Signal(int, int, object)  # request id, image id, Detections
    failed = Signal(int, int, str)  # request id, image id, message naming the file
    busy = Signal(bool)
    model_ready = Signal(str)  # description of the loaded model
    model_failed = Signal(str)
    progress = Signal(int, int, float, float)  # done, total, images/s, eta seconds (-1 unknown)
    batch_item = Signal(int, object, str)  # image id, Detections or None, error text ("" if ok)
    batch_finished = Signal(int, int, bool)  # done, total, cancelled

    _requested = Signal(int, int, object)
    _model_requested = Signal(object, str)
    _batch_requested = Signal(object, int)

    def __init__(self, predictor: PredictorLike | None = None, *,
                 runner: Callable[..., Any] | None = None, parent: QObject | None = None) -> None:
        """``predictor``: an initial predictor (optional). ``runner``: the batch generator,
        default :func:`rnxstudio.ml.predict.run_inference` (same signature)."""
        super().__init__(parent)
        self._shared = _Shared()
        self._engine = _Engine(self._shared, predictor, runner)
        self._thread: QThread | None = None
        self._next_id = 0
        self._dropped_late = 0
        q = Qt.ConnectionType.QueuedConnection
        self._requested.connect(self._engine.request, q)
        self._model_requested.connect(self._engine.set_model, q)
        self._batch_requested.connect(self._engine.batch, q)
        e = self._engine
        e.result.connect(self._relay_result, q)
        e.failed.connect(self._relay_failed, q)
        for name in ("busy", "model_ready", "model_failed", "progress", "batch_item", "batch_finished"):
            getattr(e, name).connect(getattr(self, "_relay_" + name), q)

    # ------------------------------------------------------------ control
    def start(self) -> QThread:
        """Start the inference thread (once)."""
        if self._thread is not None or self._shared.stopping.is_set():
            raise RuntimeError("InferenceWorker can be started once")
        thread = QThread()
        thread.setObjectName("rnx-inference")
        self._engine.moveToThread(thread)
        thread.start()
        self._thread = thread
        return thread

    @property
    def thread_handle(self) -> QThread | None:
        return self._thread

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    @property
    def forward_passes(self) -> int:
        """Single-image forward passes actually run so far."""
        return self._engine.forward_passes

    @property
    def dropped(self) -> int:
        """Stale requests skipped, plus stale results discarded."""
        return self._engine.dropped + self._dropped_late

    def request(self, image_id: int, payload: Payload) -> int:
        """Queue pre-labeling of one image; returns the request id. Older requests go stale."""
        self._next_id += 1
        rid = self._next_id
        self._shared.latest = rid
        self._requested.emit(rid, int(image_id), payload)
        return rid

    def invalidate(self) -> None:
        """Make every queued or running single-image request stale (e.g. the project closed)."""
        self._next_id += 1
        self._shared.latest = self._next_id

    def is_current(self, request_id: int) -> bool:
        return request_id == self._shared.latest

    def set_model(self, model: Any, device: str = "auto") -> None:
        """Use ``model`` from now on: a predictor, a BuiltModel (hot-swapped into the current
        predictor when there is one) or a zero-argument factory returning either — the factory
        runs on the worker thread, so a slow build never blocks the GUI."""
        self._model_requested.emit(model, str(device))

    def prelabel_all(self, items: Sequence[tuple[int, Payload]], batch_size: int = 1) -> None:
        """Pre-label ``(image_id, source)`` pairs; sources as for :meth:`request`."""
        self._shared.cancel.clear()
        self._batch_requested.emit(list(items), int(batch_size))

    def cancel_batch(self) -> None:
        """Stop the running batch after the image in flight."""
        self._shared.cancel.set()

    def shutdown(self, timeout_ms: int | None = None) -> bool:
        """Stop, quit and join the inference thread; True once it has ended.

        Blocks until a forward pass in flight returns (bounded by ``timeout_ms`` when given);
        nothing is emitted afterwards.
        """
        self._shared.stopping.set()
        self._shared.cancel.set()
        self.invalidate()
        thread = self._thread
        if thread is None:
            return True
        thread.quit()
        joined = thread.wait() if timeout_ms is None else thread.wait(int(timeout_ms))
        if not joined:
            log.warning("inference thread still busy after %s ms", timeout_ms)
            return False
        self._thread = None
        self._engine.close_videos()
        self._engine.predictor = None
        return True

    # ------------------------------------------------ relays (GUI thread)
    def _live(self) -> bool:
        return not self._shared.stopping.is_set()

    @Slot(int, int, object)
    def _relay_result(self, rid: int, image_id: int, detections: object) -> None:
        if not self._live() or rid != self._shared.latest:
            self._dropped_late += 1  # superseded while the result was in the queue
            return
        self.result.emit(rid, image_id, detections)

    @Slot(int, int, str)
    def _relay_failed(self, rid: int, image_id: int, message: str) -> None:
        if self._live() and rid == self._shared.latest:
            self.failed.emit(rid, image_id, message)

    @Slot(bool)
    def _relay_busy(self, on: bool) -> None:
        if self._live():
            self.busy.emit(on)

    @Slot(str)
    def _relay_model_ready(self, text: str) -> None:
        if self._live():
            self.model_ready.emit(text)

    @Slot(str)
    def _relay_model_failed(self, text: str) -> None:
        if self._live():
            self.model_failed.emit(text)

    @Slot(int, int, float, float)
    def _relay_progress(self, done: int, total: int, ips: float, eta: float) -> None:
        if self._live():
            self.progress.emit(done, total, ips, eta)

    @Slot(int, object, str)
    def _relay_batch_item(self, image_id: int, detections: object, error: str) -> None:
        if self._live():
            self.batch_item.emit(image_id, detections, error)

    @Slot(int, int, bool)
    def _relay_batch_finished(self, done: int, total: int, cancelled: bool) -> None:
        if self._live():
            self.batch_finished.emit(done, total, cancelled)
