"""The detector in the loop, as job kinds of the one engine (:mod:`rnxstudio.ui.jobs`).

:class:`InferenceClient` loads a model onto the model lane (a factory runs there, so a slow
build never blocks the GUI), pre-labels one image (kind ``predict``: latest wins, checked again
after decoding and after the forward pass) or many (kind ``prelabel``: ``run_inference`` with
``progress``; single requests are served between its images; :meth:`cancel_batch` stops it
within one image). Every signal is emitted on the GUI thread; results are plain data
(``Detections`` with numpy arrays).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal

from rnxstudio.ui.jobs import JobContext, JobEngine
from rnxstudio.ui.ml_import import import_ml, ml_lock

Payload = Any  # str | os.PathLike | (video_path, frame_index) | np.ndarray

PRIORITY_MODEL, PRIORITY_ONE, PRIORITY_BATCH = 0, 1, 10


class _Stale(Exception):
    """A single request superseded while it ran."""


class InferenceClient(QObject):
    result = Signal(int, int, object)  # job id, image id, Detections
    failed = Signal(int, int, str)  # job id, image id, message naming the file
    model_ready = Signal(str, object)  # description of the loaded model, the BuiltModel (or None)
    model_failed = Signal(str)
    batch_failed = Signal(str)  # a pre-label run that could not start or stopped early, and why
    progress = Signal(int, int, float, float)  # done, total, images/s, eta seconds (-1 unknown)
    batch_item = Signal(int, object, str)  # image id, Detections or None, error text ("" if ok)
    batch_finished = Signal(int, int, bool)  # done, total, cancelled

    def __init__(self, engine: JobEngine, *, runner: Callable[..., Any] | None = None,
                 parent: QObject | None = None) -> None:
        """``runner``: the batch generator, default :func:`rnxstudio.ml.predict.run_inference`."""
        super().__init__(parent)
        self.engine = engine
        self.runner = runner
        self.forward_passes = 0  # single-image forward passes actually run (counted on the model lane)
        self.path = ""  # the loaded predictor's inference path and why (Predictor.describe())
        self.path_warnings: list[str] = []  # e.g. bf16 asked for on a CPU without native bf16

    # ------------------------------------------------------------------ model
    def set_model(self, model: Any, device: str = "auto", *, precision: str = "auto", backend: str = "auto") -> None:
        """Use ``model`` from now on: a predictor, a BuiltModel (hot-swapped into the current
        predictor when there is one on the same device and inference path) or a zero-argument
        factory returning either. ``precision``/``backend`` choose the inference path
        (:mod:`rnxstudio.ml.precision`); after ``model_ready``, :attr:`path` says which path runs
        and why, and :attr:`path_warnings` what the user should know about it."""

        def load(ctx: JobContext) -> tuple[str, Any, tuple[str, list[str]]]:
            slot = ctx.resources
            m = model() if callable(model) and not hasattr(model, "predict") and not hasattr(model, "model") else model
            if hasattr(m, "predict"):
                slot.predictor, slot.built = m, getattr(m, "built", None)
            else:
                import_ml()
                current = slot.predictor
                # a predictor handed in as it is counts as the automatic path
                same_path = getattr(slot, "path_request", ("auto", "auto")) == (precision, backend)
                if callable(getattr(current, "swap", None)) and same_path and \
                        device in ("auto", str(getattr(current, "device", ""))):
                    current.swap(m)
                else:
                    with ml_lock():
                        from rnxstudio.ml.predict import Predictor

                    slot.predictor = Predictor(m, device=device, precision=precision, backend=backend)
                    slot.path_request = (precision, backend)
                slot.built = m
            names = getattr(slot.predictor, "class_names", None)
            where = getattr(slot.predictor, "device", "")
            desc = f"{len(names)} classes" if names is not None else type(slot.predictor).__name__
            describe = getattr(slot.predictor, "describe", None)
            choice = getattr(slot.predictor, "choice", None)
            path = (describe() if callable(describe) else "", list(getattr(choice, "warnings", None) or []))
            return (f"{desc} on {where}" if where else desc), slot.built, path

        self.engine.submit("load_model", load, latest_wins=True, priority=PRIORITY_MODEL,
                           on_done=self._on_loaded,
                           on_error=lambda exc: self.model_failed.emit(f"cannot load the model: {exc}"))

    def _on_loaded(self, result: tuple[str, Any, tuple[str, list[str]]]) -> None:
        text, built, (self.path, self.path_warnings) = result
        self.model_ready.emit(text, built)

    # ------------------------------------------------------------------ one image
    def request(self, image_id: int, payload: Payload) -> int:
        """Pre-label one image; older requests go stale. Returns the job id."""
        from rnxstudio.data.sources import describe_error

        def predict(ctx: JobContext) -> tuple[int, Any]:
            slot = ctx.resources
            if slot.predictor is None:
                raise RuntimeError("no model loaded")
            try:
                rgb = slot.read(payload)
            except Exception as exc:  # noqa: BLE001 - named with its file
                raise RuntimeError(describe_error(payload, exc)) from exc
            if ctx.cancelled():
                raise _Stale
            self.forward_passes += 1  # only the model lane writes this
            try:
                det = slot.predictor.predict([rgb])[0]
            except Exception as exc:  # noqa: BLE001
                where = f"{os.fspath(payload)}: " if isinstance(payload, (str, os.PathLike)) else ""
                raise RuntimeError(f"{where}inference failed: {exc}") from exc
            if ctx.cancelled():
                raise _Stale
            return image_id, det

        job = self.engine.submit("predict", predict, latest_wins=True, priority=PRIORITY_ONE,
                                 on_done=lambda r: self.result.emit(job.id, r[0], r[1]),
                                 on_error=lambda exc: self.failed.emit(job.id, int(image_id), str(exc)))
        return job.id

    def is_current(self, job_id: int) -> bool:
        latest = self.engine.latest("predict")
        return latest is not None and latest.id == job_id and not latest.cancel_event.is_set()

    @property
    def dropped(self) -> int:
        """Stale jobs skipped or their late results discarded (all kinds of the engine)."""
        return self.engine.dropped

    def cancel_requests(self) -> None:
        """Make every queued or running single-image request stale (e.g. the project closed)."""
        self.engine.cancel("predict")

    # ------------------------------------------------------------------ many images
    def prelabel_all(self, items: Sequence[tuple[int, Payload]], batch_size: int = 1) -> bool:
        """Pre-label ``(image_id, source)`` pairs; False when a batch is already running."""
        if self.engine.active("prelabel") is not None:
            self.batch_failed.emit("a pre-label run is already in progress")
            return False
        items = list(items)
        total = len(items)
        state = {"done": 0}

        def batch(ctx: JobContext):
            slot = ctx.resources
            if slot.predictor is None:
                raise RuntimeError("no model loaded: choose a model before pre-labeling")
            runner = self.runner
            if runner is None:
                with ml_lock():
                    from rnxstudio.ml.predict import run_inference as runner
            gen = runner([src for _, src in items], slot.predictor, batch_size=max(1, batch_size), cancel=ctx.cancel)
            try:
                yield from gen
            finally:
                gen.close()

        def on_item(prog: Any) -> None:
            state["done"] = prog.index + 1
            self.batch_item.emit(items[prog.index][0], prog.detections, prog.error or "")
            eta = -1.0 if prog.eta_s is None else float(prog.eta_s)
            self.progress.emit(state["done"], total, float(prog.images_per_s), eta)

        def on_error(exc: BaseException) -> None:
            self.batch_failed.emit(f"pre-labeling stopped after {state['done']} of {total} images: {exc}")
            self.batch_finished.emit(state["done"], total, True)

        self.engine.submit("prelabel", batch, priority=PRIORITY_BATCH, on_yield=on_item,
                           on_done=lambda _n: self.batch_finished.emit(state["done"], total, state["done"] < total),
                           on_error=on_error,
                           on_abort=lambda: self.batch_finished.emit(state["done"], total, True))
        return True

    def cancel_batch(self) -> None:
        """Stop the running batch after the image in flight."""
        self.engine.cancel("prelabel")
