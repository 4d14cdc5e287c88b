"""Pipeline overlap: decode and resize upcoming images on a thread pool while the model runs.

:class:`Prefetcher` maps a load function over sources on worker threads, keeps a bounded number
in flight and yields results strictly in source order; a failing item becomes an error item and
the stream goes on. :func:`prepare_image` is the work done there for inference: the resize that
torchvision's ``GeneralizedRCNNTransform`` would do on the model thread, done with OpenCV
(bilinear, half-pixel centres, no antialias: the same sampling as ``F.interpolate(bilinear,
align_corners=False)``), plus the uint8 -> float conversion. OpenCV and the decoders release the
GIL, so this really runs beside the model.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import cv2
import numpy as np
import torch

from rnxstudio.core.cancel import Cancel, is_cancelled

S = TypeVar("S")
T = TypeVar("T")


@dataclass
class Fetched(Generic[T]):
    """One source's result: ``value`` or the exception raised while loading it."""

    index: int
    source: Any
    value: T | None
    error: BaseException | None

    @property
    def ok(self) -> bool:
        return self.error is None


class Prefetcher(Iterator[Fetched[T]], Generic[S, T]):
    """Ordered, bounded, cancellable parallel map of ``load`` over ``sources``.

    At most ``depth`` items (default ``2 * workers``) are loaded ahead of the consumer, so memory
    stays bounded for any number of sources (``sources`` is consumed lazily). ``cancel`` is
    checked before each item is handed out; once set the iterator stops and pending loads are
    dropped. Use as a context manager (or call :meth:`close`) to release the threads early.
    """

    def __init__(self, sources: Iterable[S], load: Callable[[S], T], *, workers: int = 2,
                 depth: int | None = None, cancel: Cancel = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._depth = max(1, depth if depth is not None else 2 * workers)
        self._sources = iter(enumerate(sources))
        self._load = load
        self._cancel = cancel
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rnx-prefetch")
        self._queue: deque[tuple[int, S, Future]] = deque()
        self._closed = False
        self._fill()

    def _fill(self) -> None:
        while not self._closed and len(self._queue) < self._depth:
            try:
                i, src = next(self._sources)
            except StopIteration:
                return
            self._queue.append((i, src, self._pool.submit(self._load, src)))

    def __iter__(self) -> Prefetcher[S, T]:
        return self

    def __next__(self) -> Fetched[T]:
        if self._closed or not self._queue or is_cancelled(self._cancel):
            self.close()
            raise StopIteration
        i, src, fut = self._queue.popleft()
        self._fill()
        try:
            return Fetched(i, src, fut.result(), None)
        except Exception as exc:  # noqa: BLE001 - a per-item failure is data, not the end
            return Fetched(i, src, None, exc)

    def close(self) -> None:
        """Drop pending work and stop the threads (waits for loads already running)."""
        if self._closed:
            return
        self._closed = True
        for _, _, fut in self._queue:
            fut.cancel()
        self._queue.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Prefetcher[S, T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- model-side preparation


@dataclass
class PreparedImage:
    """An image resized to the model's working size: ``3 x h x w``, float in [0, 1] or uint8.

    ``size`` is the ORIGINAL (width, height); boxes found on ``tensor`` map back by
    ``(size[0] / tensor_w, size[1] / tensor_h)``. A uint8 tensor (the GPU path: a quarter of the
    bytes to copy, converted on the device) is scaled to [0, 1] by the predictor.
    """

    tensor: torch.Tensor
    size: tuple[int, int]

    @property
    def scale_xy(self) -> tuple[float, float]:
        h, w = self.tensor.shape[-2:]
        return self.size[0] / w, self.size[1] / h


def target_size(width: int, height: int, min_size: int, max_size: int) -> tuple[int, int]:
    """(w, h) that ``GeneralizedRCNNTransform`` resizes a ``width x height`` image to at test time."""
    short, long = min(width, height), max(width, height)
    scale = min(min_size / short, max_size / long)
    # torchvision: interpolate(scale_factor=scale, recompute_scale_factor=True) -> floor(dim * scale)
    return max(1, int(np.floor(width * scale))), max(1, int(np.floor(height * scale)))


def prepare_image(rgb: np.ndarray, min_size: int, max_size: int, *, keep_uint8: bool = False,
                  pin: bool = False) -> PreparedImage:
    """Resize ``rgb`` (H x W x 3 uint8) to the model's test size and make the tensor.

    ``keep_uint8`` leaves the pixels as uint8 (the device converts them); ``pin`` puts the
    tensor in page-locked memory so a CUDA copy can run asynchronously (needs CUDA).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB array, got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    tw, th = target_size(w, h, min_size, max_size)
    small = rgb if (tw, th) == (w, h) else cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_LINEAR)
    t = torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1)
    t = t.contiguous() if keep_uint8 else t.to(torch.float32).div_(255.0)
    if pin:
        t = t.pin_memory()
    return PreparedImage(t, (int(w), int(h)))
