"""Inference: :class:`Predictor` (model + device + AMP settings) and the shared loop
:func:`run_inference` that the GUI worker and the CLI both drive.

Results are plain data (:class:`Detections`: numpy arrays in original upright image pixels).
torchvision's GeneralizedRCNNTransform resizes inside the model and maps boxes back to each
input's own size, so no coordinate bookkeeping happens here.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rnxstudio.core.cancel import Cancel, is_cancelled
from rnxstudio.core.model import Box, BoxSource, InvalidBoxError, clip_box
from rnxstudio.data import images
from rnxstudio.data.sources import Source, SourceReader, describe_error
from rnxstudio.ml import fast
from rnxstudio.ml.devices import pick_device
from rnxstudio.ml.prefetch import PreparedImage, Prefetcher, prepare_image
from rnxstudio.ml.tensors import image_to_tensor
from rnxstudio.ml.zoo import BuiltModel

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

    def to_boxes(self, category_ids: Sequence[int | None] | None = None, image_id: int = 0) -> list[Box]:
        """As core :class:`Box` objects (source PREDICTED), clipped to the image.

        ``category_ids[label - 1]`` gives each box's category id (default: the label itself);
        None there drops the label's boxes (a class the project's class mapping ignores).
        Boxes that vanish under clipping are dropped.
        """
        w, h = self.image_size
        out: list[Box] = []
        for (x1, y1, x2, y2), s, lab in zip(self.boxes.tolist(), self.scores.tolist(), self.labels.tolist()):
            if category_ids is not None and category_ids[lab - 1] is None:
                continue
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
    """A model placed on a device, ready to predict; swap the model without rebuilding this.

    ``optimize="auto"`` (default) runs the fastest correct path for this device
    (:mod:`rnxstudio.ml.precision`): ``precision`` ("auto", "fp32", "bf16", "fp16") and
    ``backend`` ("auto", "torch", "openvino") override its choice; :attr:`choice` and
    :meth:`describe` say what runs and why. ``optimize="none"`` is plain eager fp32; any other
    :mod:`rnxstudio.ml.fast` mode runs as given.
    """

    def __init__(self, built: BuiltModel, *, device: str | torch.device = "auto",
                 amp: bool | str | None = None, channels_last: bool | None = None,
                 score_thresh: float | None = None, optimize: str = "auto",
                 precision: str = "auto", backend: str = "auto"):
        from rnxstudio.ml.precision import resolve

        self.device = pick_device(device)
        self.amp_dtype = _amp_dtype(amp, self.device)
        self.channels_last = (self.device.type == "cuda") if channels_last is None else bool(channels_last)
        self.score_thresh = score_thresh
        # the optimised path (rnxstudio.ml.fast): "auto" = what measured fastest here, "none" = eager
        self.choice = resolve(self.device, precision, backend) if optimize == "auto" else None
        self.plan = fast.plan_for(self.device, self.choice.mode if self.choice else optimize)
        if self.plan.autocast and amp is None:
            self.amp_dtype = self.plan.amp_dtype
        self._lock = threading.RLock()
        self.built: BuiltModel
        self._runner: torch.nn.Module
        self.swap(built)

    @property
    def path_name(self) -> str:
        """Short name of the inference path, e.g. "openvino bf16", "torch fp32", "eager fp32"."""
        if self.plan.is_eager:
            return "eager " + ({torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.amp_dtype, "fp32"))
        backend = "openvino" if self.plan.backbone == "openvino" else "torch"
        return f"{backend} {self.plan.precision}"

    def describe(self) -> str:
        """One line for a status bar: path, device and why, e.g.
        "openvino bf16 on CPU (native bf16: avx512_bf16/amx_bf16)"."""
        why = self.choice.reason if self.choice and self.choice.name == self.path_name else self.plan.describe()
        return f"{self.path_name} on {self.device.type.upper()} ({why})"

    def run_record(self) -> dict[str, Any]:
        """How this predictor computes, for a prediction run's provenance."""
        return {"inference_path": self.path_name, "optimisations": self.plan.describe(),
                "device": str(self.device), "reason": self.choice.reason if self.choice else "as asked",
                "torch": torch.__version__}

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
        runner = model
        if not self.plan.is_eager:
            runner, self.plan = fast.optimize(model, self.device, self.plan)
        with self._lock:
            self.built = built
            self._runner = runner

    @property
    def presized(self) -> bool:
        """True when the model skips its own resize for :meth:`prepare`-d inputs (optimised path)."""
        return isinstance(self._runner.transform, fast.PresizedTransform)

    def prepare(self, rgb: np.ndarray) -> PreparedImage:
        """Resize ``rgb`` to the model's test size off the model thread (see ml.prefetch)."""
        t = self.built.model.transform
        own = getattr(t, "prepare", None)  # a converted model resizes its framework's way (ml.resize)
        if callable(own):
            return own(rgb)
        cuda = self.device.type == "cuda"  # uint8 + pinned: a quarter of the bytes, copied asynchronously
        return prepare_image(rgb, int(t.min_size[-1]), int(t.max_size), keep_uint8=cuda, pin=cuda)

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
                outputs = self._runner(tensors)
        return [_detections(out, built.class_names, (int(im.shape[1]), int(im.shape[0])))
                for im, out in zip(rgb_images, outputs)]

    def predict_prepared(self, items: Sequence[PreparedImage]) -> list[Detections]:
        """Detect on :meth:`prepare`-d images; boxes come back in each ORIGINAL image's pixels."""
        if len(items) == 0:
            return []
        with self._lock:
            built = self.built
            tensors = [_to_unit_float(it.tensor.to(self.device, non_blocking=True)) for it in items]
            with torch.inference_mode(), self._autocast():
                outputs = self._runner(tensors)
        result = []
        for it, out in zip(items, outputs):
            sx, sy = it.scale_xy
            boxes = out["boxes"].float() * torch.tensor([sx, sy, sx, sy], device=out["boxes"].device)
            result.append(_detections({**out, "boxes": boxes}, built.class_names, it.size))
        return result

    def predict_paths(self, paths: Sequence[str | os.PathLike]) -> list[Detections]:
        """Load (``data.images.load``) and detect; raises ImageLoadError for an unreadable file."""
        return self.predict([images.load(p) for p in paths])


def _to_unit_float(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float32).div_(255.0) if t.dtype == torch.uint8 else t


def default_batch_size(device: torch.device) -> int:
    """Images per forward pass for pre-labelling: 1 on a CPU (batching gains nothing there and
    delays the first result), 8 on CUDA (batch 1 is bound by kernel launches)."""
    return 8 if torch.device(device).type == "cuda" else 1


def default_workers(device: torch.device) -> int:
    """Decode/resize threads: 2 on a CPU (the model needs the cores), up to 8 feeding a GPU."""
    return min(8, max(2, (os.cpu_count() or 2) - 1)) if torch.device(device).type == "cuda" else 2


def _detections(out: dict[str, torch.Tensor], class_names: list[str], size: tuple[int, int]) -> Detections:
    return Detections(
        boxes=out["boxes"].float().cpu().numpy().astype(np.float32, copy=False).reshape(-1, 4),
        scores=out["scores"].float().cpu().numpy().astype(np.float32, copy=False),
        labels=out["labels"].cpu().numpy().astype(np.int64, copy=False),
        class_names=list(class_names),
        image_size=size,
    )


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


def run_inference(
    sources: Iterable[Source],
    predictor: Predictor,
    *,
    batch_size: int | None = 1,
    cancel: Cancel = None,
    workers: int | None = 2,
) -> Iterator[InferenceProgress]:
    """Predict on every source, yielding one :class:`InferenceProgress` per item in order.

    Sources are image paths, ``(video_path, frame_index)`` tuples or RGB arrays. Unreadable items
    become error items and the loop goes on. Upcoming items are decoded (and, on the optimised
    path, resized to the model's size) by ``workers`` threads while the model runs
    (:class:`rnxstudio.ml.prefetch.Prefetcher`); frames of one video are read one at a time.
    ``batch_size`` / ``workers`` None take the device's defaults (:func:`default_batch_size`,
    :func:`default_workers`: batches of 8 and more decode threads feeding a GPU).
    ``cancel`` (a callable or Event) is checked before each batch; once set the generator stops.
    Its return value is the number of items processed.
    """
    device = getattr(predictor, "device", torch.device("cpu"))
    batch_size = default_batch_size(device) if batch_size is None else batch_size
    workers = default_workers(device) if workers is None else workers
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    items = list(sources)
    total = len(items)
    reader = SourceReader()
    video_lock = threading.Lock()
    presized = bool(getattr(predictor, "presized", False))

    def load(src: Source) -> Any:
        if isinstance(src, tuple):
            with video_lock:
                rgb = reader.read(src)
        else:
            rgb = reader.read(src)
        return predictor.prepare(rgb) if presized else rgb

    start = time.perf_counter()
    done = 0
    fetch = Prefetcher(items, load, workers=max(1, workers), depth=max(2 * workers, 2 * batch_size))
    try:
        while True:
            if is_cancelled(cancel):
                return done
            batch = list(itertools.islice(fetch, batch_size))
            if not batch:
                return done
            good = [f for f in batch if f.ok]
            values = [f.value for f in good]
            dets = (predictor.predict_prepared(values) if presized else predictor.predict(values)) if good else []
            by_index = {f.index: d for f, d in zip(good, dets)}
            for f in batch:
                done += 1
                elapsed = max(time.perf_counter() - start, 1e-9)
                ips = done / elapsed
                eta = (total - done) / ips if ips > 0 else None
                yield InferenceProgress(
                    index=done - 1, total=total, source=f.source,
                    detections=by_index.get(f.index),
                    error=describe_error(f.source, f.error) if f.error is not None else None,
                    images_per_s=ips, eta_s=eta,
                )
    finally:
        fetch.close()
        reader.close()
