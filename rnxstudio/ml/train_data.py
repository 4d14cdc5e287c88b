"""Training data: a COCO file (read by :mod:`rnxstudio.data.coco`, the one COCO parser) or a
project's LabelSet -> samples -> a torch Dataset with augmentation, a deterministic stratified
train/val split and an aspect-ratio grouped (optionally distributed) batch sampler.

Images go through :func:`rnxstudio.data.images.load` (EXIF-upright RGB) and
:func:`rnxstudio.ml.tensors.image_to_tensor`, exactly like inference, so boxes line up.
Images without boxes are kept as negatives (``[0, 4]`` targets). Boxes are clipped to their image
by the one clip rule (``core.model.clip_xyxy``); those left narrower/shorter than ``MIN_BOX_SIZE``
are dropped and reported per image in :attr:`DetectionData.dropped`. A file that is not valid
COCO (unknown category ids, boxes outside their image, ...) is refused whole by data.coco.

Model labels are contiguous: category ``categories[i]`` is label ``i + 1`` (0 is background).
"""

from __future__ import annotations

import hashlib

import math
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from rnxstudio.core.model import InvalidBoxError, LabelSet, clip_xyxy
from rnxstudio.data.images import load as load_image


class DataError(ValueError):
    """Training data that cannot be used: names the file and the problem."""


@dataclass
class Sample:
    image_id: int
    path: str  # absolute or relative to the working directory
    width: int
    height: int
    boxes: np.ndarray  # float32 [N, 4] xyxy, already valid
    labels: np.ndarray  # int64 [N], contiguous 1..K
    # what evaluation ignores (core.model.Box.ignore_in_eval): difficult targets, crowd regions (no targets)
    difficult: np.ndarray | None = None  # bool [N]
    crowd: list = field(default_factory=list)  # [(label, (x1, y1, x2, y2))]
    key: str = ""  # the train/val split's key: the name as the label file gives it (else ``path``)


@dataclass
class DetectionData:
    """Parsed training data: categories as (COCO id, name), samples, and what was dropped."""

    categories: list[tuple[int, str]]
    samples: list[Sample]
    dropped: dict[str, list[str]] = field(default_factory=dict)  # image file -> reasons
    source: str = ""

    @property
    def class_names(self) -> list[str]:
        return [n for _, n in self.categories]

    @property
    def category_ids(self) -> list[int]:
        return [c for c, _ in self.categories]

    @property
    def num_dropped(self) -> int:
        return sum(len(v) for v in self.dropped.values())

    def dropped_summary(self, limit: int = 5) -> str:
        if not self.dropped:
            return ""
        items = list(self.dropped.items())
        text = "; ".join(f"{name}: {', '.join(r)}" for name, r in items[:limit])
        more = f" (and {len(items) - limit} more images)" if len(items) > limit else ""
        return f"dropped {self.num_dropped} degenerate boxes: {text}{more}"


def _valid_box(x1: float, y1: float, x2: float, y2: float, w: int, h: int) -> tuple[tuple[float, ...] | None, str]:
    """The box clipped to the image by the one clip rule (core.model.clip_xyxy), or (None, why)."""
    try:
        return clip_xyxy(x1, y1, x2, y2, w, h), ""
    except InvalidBoxError as exc:
        return None, f"degenerate box [{x1:g},{y1:g},{x2:g},{y2:g}]: {exc}"


def load_coco(coco_path: str | os.PathLike, image_root: str | os.PathLike | None = None) -> DetectionData:
    """Read a COCO detection file with :func:`rnxstudio.data.coco.read_coco` (the one COCO parser,
    which validates the whole file); image paths resolve against ``image_root`` (default: the
    file's folder). Raises :class:`DataError` naming the file and its problems."""
    from rnxstudio.data.coco import read_coco
    from rnxstudio.data.errors import LabelFormatError

    coco_path = Path(coco_path)
    root = Path(image_root) if image_root is not None else coco_path.parent
    try:
        ls = read_coco(coco_path, image_root=root)
    except LabelFormatError as exc:
        raise DataError(str(exc)) from exc
    if not ls.categories:
        raise DataError(f"{coco_path}: no categories")
    data = from_labelset(ls, root)
    data.source = str(coco_path)
    return data


def from_labelset(ls: LabelSet, image_root: str | os.PathLike | None = None) -> DetectionData:
    """Training data from a :class:`LabelSet` (a COCO file read by data.coco, or a project's
    labels): boxes clipped to their image, degenerate ones dropped and reported."""
    root = Path(image_root if image_root is not None else (ls.root or "."))
    cats = sorted((c.id, c.name) for c in ls.categories)
    raw = []
    for im in ls.images:
        path = Path(im.path) if os.path.isabs(im.path) else root / im.path
        # training_boxes: crowd regions are never targets (the one rule lives in core.model)
        targets = ls.training_boxes(im)
        objs = [(b.category_id, b.xyxy, b.difficult, False) for b in targets]
        objs += [(b.category_id, b.xyxy, False, True) for b in ls.boxes_for(im) if not b.is_training_target]
        raw.append((im.id, str(path), im.width, im.height, objs, Path(im.path).as_posix()))
    return _make_data(cats, raw, str(root))


def _make_data(cats: list[tuple[int, str]], raw: list, source: str) -> DetectionData:
    label_of = {cid: i + 1 for i, (cid, _) in enumerate(cats)}
    samples, dropped = [], {}
    for iid, path, w, h, objs, key in raw:
        if w <= 0 or h <= 0:
            from rnxstudio.data.images import read_size

            try:
                w, h = read_size(path)
            except Exception as exc:  # noqa: BLE001 - reported with the file name
                raise DataError(f"{path}: cannot read image size ({exc})") from exc
        boxes, labels, difficult, crowd = [], [], [], []
        for cid, (x1, y1, x2, y2), is_difficult, is_crowd in objs:
            name = Path(path).name
            if cid not in label_of:
                dropped.setdefault(name, []).append(f"unknown category id {cid}")
                continue
            box, why = _valid_box(x1, y1, x2, y2, w, h)
            if box is None:
                dropped.setdefault(name, []).append(why)
                continue
            if is_crowd:
                crowd.append((label_of[cid], box))
                continue
            boxes.append(box)
            labels.append(label_of[cid])
            difficult.append(is_difficult)
        samples.append(Sample(iid, path, w, h, np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
                              np.asarray(labels, dtype=np.int64), np.asarray(difficult, dtype=bool), crowd, key))
    return DetectionData(categories=cats, samples=samples, dropped=dropped, source=source)


def _split_position(key: str, seed: int) -> float:
    """Where an image falls in [0, 1) for the train/val split: a hash of its key (the name the
    label file gives it, relative to the image folder: moving the project keeps its split) and
    the seed, so it never depends on which other images are being split."""
    digest = hashlib.blake2b(f"{seed}\0{Path(key).as_posix()}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def split_train_val(samples: Sequence[Sample], val_fraction: float = 0.2, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic, stable, stratified split -> (train indices, val indices), both sorted.

    Each image gets a position in [0, 1) from a hash of its key and ``seed``; images below
    ``val_fraction`` are val. The position does not depend on the other images, so a set that
    grows (label 30 more, fine-tune again from the last model) keeps its old val images in val and
    its old train images in train: the previous model never trained on the new val split, whose
    score would otherwise flatter it so much that the new run's "best" checkpoint is its first
    (seen in the loop benchmark, issue 20; ADR 0025). Then, for each class from rarest to most
    common that has no val image and appears in at least two images, the lowest-placed image
    containing it goes to val; with two images or more and a fraction > 0, val has at least one.
    Val never takes more than 1.5 x the fraction's share (lowest positions first) nor every image:
    on a small set the hashes may all fall low (there, growing can move an image to val).
    """
    n = len(samples)
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if val_fraction == 0 or n < 2:
        return list(range(n)), []
    pos = [_split_position(smp.key or smp.path, seed) for smp in samples]
    order = sorted(range(n), key=lambda i: (pos[i], i))
    cap = min(n - 1, max(1, math.ceil(1.5 * n * val_fraction)))  # a small set's hashes may all fall low
    val = {i for i in order[:cap] if pos[i] < val_fraction}
    images_of: dict[int, list[int]] = {}
    for i in order:
        for lab in set(samples[i].labels.tolist()):
            images_of.setdefault(lab, []).append(i)
    in_val = {lab for i in val for lab in samples[i].labels.tolist()}
    room = max(1, round(n * val_fraction))  # stratifying adds images only up to the fraction's count
    for lab in sorted(images_of, key=lambda k: (len(images_of[k]), k)):
        if lab in in_val or len(images_of[lab]) < 2 or len(val) >= min(room, n - 1):
            continue
        i = next(i for i in images_of[lab] if i not in val)
        val.add(i)
        in_val.update(samples[i].labels.tolist())
    if not val:
        val.add(order[0])
    return sorted(set(range(n)) - val), sorted(val)


class DecodedCache:
    """LRU cache of decoded uint8 images bounded by ``budget_bytes`` (0 disables it)."""

    def __init__(self, budget_bytes: int):
        self.budget = int(budget_bytes)
        self.used = 0
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, path: str) -> np.ndarray:
        arr = self._items.get(path)
        if arr is not None:
            self._items.move_to_end(path)
            self.hits += 1
            return arr
        self.misses += 1
        arr = load_image(path)
        if 0 < arr.nbytes <= self.budget:
            self._items[path] = arr
            self.used += arr.nbytes
            while self.used > self.budget:
                _, old = self._items.popitem(last=False)
                self.used -= old.nbytes
        return arr


@dataclass(frozen=True)
class Augment:
    hflip: float = 0.5  # probability
    brightness: float = 0.2  # +- fraction
    contrast: float = 0.2
    saturation: float = 0.2

    @classmethod
    def none(cls) -> Augment:
        return cls(0.0, 0.0, 0.0, 0.0)


def _photometric(img: torch.Tensor, aug: Augment, g: torch.Generator) -> torch.Tensor:
    def factor(amount: float) -> float:
        return 1.0 + (float(torch.rand((), generator=g)) * 2 - 1) * amount

    if aug.brightness:
        img = img * factor(aug.brightness)
    if aug.contrast:
        mean = img.mean()
        img = (img - mean) * factor(aug.contrast) + mean
    if aug.saturation:
        gray = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]).unsqueeze(0)
        img = (img - gray) * factor(aug.saturation) + gray
    return img.clamp_(0.0, 1.0)


class DetectionDataset(Dataset):
    """``dataset[i] -> (image float tensor CxHxW in [0,1], target dict)`` for torchvision
    detection models. Augmentation randomness is a pure function of (seed, epoch, index), so a
    resumed run sees exactly the images an uninterrupted one would."""

    def __init__(self, samples: Sequence[Sample], *, augment: Augment | None = None, seed: int = 0,
                 cache_bytes: int = 512 << 20):
        self.samples = list(samples)
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        self.cache = DecodedCache(cache_bytes)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def aspect(self, i: int) -> float:
        s = self.samples[i]
        return s.width / max(1, s.height)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from rnxstudio.ml.tensors import image_to_tensor

        s = self.samples[i]
        rgb = self.cache.get(s.path)
        h, w = rgb.shape[:2]
        if (w, h) != (s.width, s.height):
            raise DataError(f"{s.path}: image is {w}x{h} but the labels say {s.width}x{s.height}")
        img = image_to_tensor(rgb)
        boxes = torch.from_numpy(s.boxes.copy())
        if self.augment is not None:
            g = torch.Generator().manual_seed(hash((self.seed, self.epoch, i)) & 0x7FFFFFFF)
            if self.augment.hflip and float(torch.rand((), generator=g)) < self.augment.hflip:
                img = img.flip(-1)
                boxes = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], dim=1)
            img = _photometric(img, self.augment, g)
        target = {"boxes": boxes.reshape(-1, 4), "labels": torch.from_numpy(s.labels.copy()),
                  "image_id": torch.tensor(s.image_id)}
        return img, target


def collate(batch: list) -> tuple[tuple, tuple]:
    return tuple(zip(*batch))  # type: ignore[return-value]


class GroupedBatchSampler(Sampler[list[int]]):
    """Batches of images with the same orientation (landscape vs portrait), reshuffled each epoch.

    With ``world_size > 1`` the per-epoch order comes from a
    :class:`torch.utils.data.DistributedSampler` (padded so every rank gets the same count), so
    every rank yields exactly ``len(self)`` batches. Leftovers of the groups are batched together
    at the end, so the number of batches is ``ceil(per-rank images / batch_size)``.
    """

    def __init__(self, aspects: Sequence[float], batch_size: int, *, seed: int = 0, shuffle: bool = True,
                 rank: int = 0, world_size: int = 1):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.aspects = list(aspects)
        self.batch_size = int(batch_size)
        self.seed, self.shuffle = int(seed), shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _indices(self) -> list[int]:
        n = len(self.aspects)
        if self.world_size > 1:
            from torch.utils.data import DistributedSampler

            ds = DistributedSampler(range(n), num_replicas=self.world_size, rank=self.rank,
                                    shuffle=self.shuffle, seed=self.seed)  # type: ignore[arg-type]
            ds.set_epoch(self.epoch)
            return list(ds)
        if not self.shuffle:
            return list(range(n))
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(n, generator=g).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        groups: dict[bool, list[int]] = {True: [], False: []}
        batches: list[list[int]] = []
        for i in self._indices():
            key = self.aspects[i] >= 1.0
            groups[key].append(i)
            if len(groups[key]) == self.batch_size:
                batches.append(groups[key])
                groups[key] = []
        rest = groups[True] + groups[False]
        batches += [rest[k:k + self.batch_size] for k in range(0, len(rest), self.batch_size)]
        if self.shuffle and len(batches) > 1:
            g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch + 1)
            batches = [batches[j] for j in torch.randperm(len(batches), generator=g).tolist()]
        return iter(batches)

    def __len__(self) -> int:
        n = len(self.aspects)
        per_rank = math.ceil(n / self.world_size) if self.world_size > 1 else n
        return math.ceil(per_rank / self.batch_size)


def scale_jitter_sizes(size: int, spread: float = 0.25, steps: int = 5) -> tuple[int, ...]:
    """Multi-scale ``min_size`` choices around ``size`` (torchvision picks one per batch in
    training), rounded to multiples of 32."""
    lo, hi = size * (1 - spread), size * (1 + spread)
    vals = sorted({max(32, int(round((lo + (hi - lo) * k / max(1, steps - 1)) / 32)) * 32) for k in range(steps)})
    return tuple(vals)
