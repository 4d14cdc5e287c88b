"""Inference: :class:`Predictor` (model + device + AMP settings) and the shared loop
:func:`run_inference` that the GUI worker and the CLI both drive.

Results are plain data (:class:`Detections`: numpy arrays in original upright image pixels).
torchvision's GeneralizedRCNNTransform resizes inside the model and maps boxes back to each
input's own size, so no coordinate bookkeeping happens here.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import torch

from rnxstudio.core.model import Box, BoxSource, InvalidBoxError, clip_box
from rnxstudio.data import images
from rnxstudio.ml.devices import pick_device
from rnxstudio.ml.tensors import image_to_tensor
from rnxstudio.ml.zoo import BuiltModel

Source = Union[str, os.PathLike, tuple[str, int], np.ndarray]


@dataclass(eq=False)
class Detections:
    """Detections on one image. ``boxes`` are xyxy in the ORIGINAL upright image's pixels.

    ``labels`` are model labels 1..K; ``class_names[label - 1]`` is the class.
    """

    boxes: np.ndarray  # float32 N x 4
    scores: np.ndarray  # float32 N
    labels: np.ndarray  # int64 N
    class_names: list[str]
    image_size: tuple[int, int]  # (width, height)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @property
    def names(self) -> list[str]:
        """Class name per detection."""
        return [self.class_names[int(lab) - 1] for lab in self.labels]

    def above(self, score: float) -> Detections:
        """Only the detections scoring at least ``score``."""
        keep = self.scores >= score
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep],
                          self.class_names, self.image_size)

    def to_boxes(self, category_ids: Sequence[int] | None = None, image_id: int = 0) -> list[Box]:
        """As core :class:`Box` objects (source PREDICTED), clipped to the image.

        ``category_ids[label - 1]`` gives each box's category id (default: the label itself).
        Boxes that vanish under clipping are dropped.
        """
        w, h = self.image_size
        out: list[Box] = []
        for (x1, y1, x2, y2), s, lab in zip(self.boxes.tolist(), self.scores.tolist(), self.labels.tolist()):
            cat = int(category_ids[lab - 1]) if category_ids is not None else int(lab)
            box = Box(x1, y1, x2, y2, category_id=cat, image_id=image_id,
                      source=BoxSource.PREDICTED, score=float(s))
            try:
                out.append(clip_box(box, w, h))
            except InvalidBoxError:
                continue
        return out

    @classmethod
    def empty(cls, class_names: list[str], image_size: tuple[int, int]) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64),
                   class_names, image_size)


def _amp_dtype(amp: bool | str | None, device: torch.device) -> torch.dtype | None:
    if amp is None:
        return torch.float16 if device.type == "cuda" else None
    if amp is False or amp in ("off", "none", "fp32", ""):
        return None
    if amp is True or amp == "fp16":
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    raise ValueError(f"amp must be None, True/False, 'fp16', 'bf16' or 'off', got {amp!r}")


class Predictor:
    """A model placed on a device, ready to predict; swap the model without rebuilding this."""

    def __init__(self, built: BuiltModel, *, device: str | torch.device = "auto",
                 amp: bool | str | None = None, channels_last: bool | None = None,
                 score_thresh: float | None = None):
        self.device = pick_device(device)
        self.amp_dtype = _amp_dtype(amp, self.device)
        self.channels_last = (self.device.type == "cuda") if channels_last is None else bool(channels_last)
        self.score_thresh = score_thresh
        self._lock = threading.RLock()
        self.built: BuiltModel
        self.swap(built)

    @property
    def class_names(self) -> list[str]:
        return self.built.class_names

    def swap(self, built: BuiltModel) -> None:
        """Put ``built`` on this predictor's device and use it from the next call on."""
        model = built.model.to(self.device).eval()
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.score_thresh is not None:
            model.roi_heads.score_thresh = float(self.score_thresh)
        with self._lock:
            self.built = built

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def predict(self, rgb_images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect on upright RGB uint8 images (any sizes) as one batch."""
        if len(rgb_images) == 0:
            return []
        with self._lock:
            built = self.built
            tensors = [image_to_tensor(im, device=self.device) for im in rgb_images]
            with torch.inference_mode(), self._autocast():
                outputs = built.model(tensors)
        result = []
        for im, out in zip(rgb_images, outputs):
            result.append(Detections(
                boxes=out["boxes"].float().cpu().numpy().astype(np.float32, copy=False).reshape(-1, 4),
                scores=out["scores"].float().cpu().numpy().astype(np.float32, copy=False),
                labels=out["labels"].cpu().numpy().astype(np.int64, copy=False),
                class_names=list(built.class_names),
                image_size=(int(im.shape[1]), int(im.shape[0])),
            ))
        return result

    def predict_paths(self, paths: Sequence[str | os.PathLike]) -> list[Detections]:
        """Load (``data.images.load``) and detect; raises ImageLoadError for an unreadable file."""
        return self.predict([images.load(p) for p in paths])


# --------------------------------------------------------------------------- the shared loop


@dataclass
class InferenceProgress:
    """One finished item of :func:`run_inference`: detections or the error text, plus progress."""

    index: int  # 0-based position in the sources
    total: int
    source: Any
    detections: Detections | None
    error: str | None
    images_per_s: float
    eta_s: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return self.index + 1

    @property
    def ok(self) -> bool:
        return self.error is None


class _SourceReader:
    """Turns one source (path, (video, frame) or array) into RGB; keeps videos open."""

    def __init__(self) -> None:
        self._videos: dict[str, Any] = {}

    def read(self, source: Source) -> np.ndarray:
        if isinstance(source, np.ndarray):
            return source
        if isinstance(source, tuple):
            path, frame = source
            reader = self._videos.get(str(path))
            if reader is None:
                from rnxstudio.data.video import VideoReader

                reader = self._videos[str(path)] = VideoReader(path)
            return reader.read(int(frame))
        return images.load(source)

    def close(self) -> None:
        for reader in self._videos.values():
            close = getattr(reader, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        self._videos.clear()


def _error_text(source: Source, exc: BaseException) -> str:
    if isinstance(exc, images.ImageLoadError):
        return str(exc)
    where = f"{source[0]} frame {source[1]}" if isinstance(source, tuple) else str(source)
    return f"{where}: {exc}" if str(where) not in str(exc) else str(exc)


def _is_cancelled(cancel: Callable[[], bool] | threading.Event | None) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def _load_batch(reader: _SourceReader, batch: list[Source]) -> list[np.ndarray | BaseException]:
    out: list[np.ndarray | BaseException] = []
    for src in batch:
        try:
            out.append(reader.read(src))
        except Exception as exc:  # noqa: BLE001 - any per-item read failure becomes an error item
            out.append(exc)
    return out


def run_inference(
    sources: Iterable[Source],
    predictor: Predictor,
    *,
    batch_size: int = 1,
    cancel: Callable[[], bool] | threading.Event | None = None,
) -> Iterator[InferenceProgress]:
    """Predict on every source, yielding one :class:`InferenceProgress` per item in order.

    Sources are image paths, ``(video_path, frame_index)`` tuples or RGB arrays. Unreadable items
    become error items and the loop goes on. The next batch is decoded on a helper thread while
    the model runs. ``cancel`` (a callable or Event) is checked before each batch; once set the
    generator stops. Its return value is the number of items processed.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    items = list(sources)
    total = len(items)
    batches = [items[i:i + batch_size] for i in range(0, total, batch_size)]
    reader = _SourceReader()
    start = time.perf_counter()
    done = 0
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnx-decode")
    try:
        pending: Future | None = pool.submit(_load_batch, reader, batches[0]) if batches else None
        for b, batch in enumerate(batches):
            if _is_cancelled(cancel):
                return done
            loaded = pending.result()
            pending = pool.submit(_load_batch, reader, batches[b + 1]) if b + 1 < len(batches) else None
            good = [(i, im) for i, im in enumerate(loaded) if not isinstance(im, BaseException)]
            dets = predictor.predict([im for _, im in good]) if good else []
            by_pos = {i: d for (i, _), d in zip(good, dets)}
            for i, src in enumerate(batch):
                done += 1
                elapsed = max(time.perf_counter() - start, 1e-9)
                ips = done / elapsed
                eta = (total - done) / ips if ips > 0 else None
                err = loaded[i]
                yield InferenceProgress(
                    index=done - 1, total=total, source=src,
                    detections=by_pos.get(i),
                    error=_error_text(src, err) if isinstance(err, BaseException) else None,
                    images_per_s=ips, eta_s=eta,
                )
        return done
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        reader.close()
