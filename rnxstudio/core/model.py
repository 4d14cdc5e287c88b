"""The annotation domain model as plain dataclasses.

Coordinates are always ``xyxy`` floats in *upright* image pixels (EXIF orientation already
applied), with (0, 0) the top-left corner of the top-left pixel and (width, height) the
bottom-right corner of the image. Every layer above — store, formats, canvas, model tensors —
shares this one frame.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

MIN_BOX_SIZE = 1.0
"""Boxes narrower or shorter than this (in pixels) are refused."""


class BoxSource(str, enum.Enum):
    MANUAL = "manual"
    PREDICTED = "predicted"
    ACCEPTED = "accepted"


class ImageStatus(str, enum.Enum):
    UNLABELED = "unlabeled"
    PREDICTED = "predicted"
    IN_PROGRESS = "in_progress"
    VERIFIED = "verified"


class InvalidBoxError(ValueError):
    """A box that cannot exist: degenerate, non-finite, or entirely outside its image."""


# A qualitative palette with good contrast on photos; category i gets PALETTE[i % len].
PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
    "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000",
    "#aaffc3", "#808000", "#ffd8b1", "#000075", "#a9a9a9",
)


def default_color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


@dataclass(frozen=True)
class Category:
    """A class. ``extra`` keeps the fields a label file had that rnxstudio does not use (e.g. COCO
    ``keypoints``/``skeleton``), per format: ``{"coco": {...}}``; written back to that format."""

    id: int
    name: str
    color: str = "#e6194b"
    hotkey: str | None = None
    supercategory: str = ""
    extra: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Box:
    """One bounding box on one image (or video frame).

    ``id`` is 0 until the store assigns one. ``category_id`` refers to :class:`Category.id`.
    ``model_name`` names the model a prediction came from (kept when a person accepts or edits it)
    and ``model_version`` the exact weights (a digest; the key of the rejection memory).
    ``edited`` marks a model's box a person moved, resized or relabelled: see :attr:`provenance`.

    ``crowd`` marks a COCO ``iscrowd=1`` region (a group of objects, or an area to ignore): never a
    training target, ignored in evaluation. ``difficult`` is PASCAL VOC's flag: trained on, but
    left out of evaluation. ``extra`` keeps what the label file said about the box that rnxstudio
    does not model, per format (``{"coco": {"id": .., "segmentation": .., "attributes": ..},
    "voc": {"truncated": "1", ..}}``), so an export to the same format writes it back. Treat it as
    read-only: copy, never mutate in place.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    category_id: int
    id: int = 0
    image_id: int = 0
    source: BoxSource = BoxSource.MANUAL
    score: float | None = None
    verified: bool = False
    track_id: int | None = None
    crowd: bool = False
    difficult: bool = False
    extra: dict = field(default_factory=dict, hash=False)
    model_name: str | None = None
    edited: bool = False
    model_version: str | None = None

    @property
    def provenance(self) -> str:
        """How the box came to be: ``"predicted"`` (the model's, not reviewed), ``"drawn"`` (a
        person's: drawn, pasted or imported), ``"accepted"`` (a prediction accepted as it was:
        ``model_name`` and ``score`` say whose) or ``"edited"`` (a prediction a person accepted
        and then moved, resized or relabelled, or changed directly)."""
        if self.source is BoxSource.PREDICTED:
            return "predicted"
        if self.source is BoxSource.MANUAL:
            return "drawn"
        return "edited" if self.edited else "accepted"

    @property
    def model_identity(self) -> str | None:
        """The model this box came from, as the rejection memory keys it (version, else name)."""
        return self.model_version or self.model_name

    @property
    def is_training_target(self) -> bool:
        """Whether a detector should learn this box as an object (a crowd region is not one)."""
        return not self.crowd

    @property
    def ignore_in_eval(self) -> bool:
        """Whether evaluation ignores this ground-truth box (crowd regions, PASCAL 'difficult'):
        it is neither a miss when undetected nor makes a detection on it a false positive."""
        return self.crowd or self.difficult

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2 - self.x1, self.y2 - self.y1)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def with_coords(self, x1: float, y1: float, x2: float, y2: float) -> Box:
        return replace(self, x1=x1, y1=y1, x2=x2, y2=y2)


PROVENANCES = ("drawn", "accepted", "edited")
"""The provenance of a person's box (:attr:`Box.provenance`; "predicted" is the model's)."""

DUPLICATE_IOU = 0.7
"""A prediction overlapping a person's box of the same class at least this much is a duplicate."""


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two ``xyxy`` boxes (0 when either is empty)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def duplicates(box: Box, others, threshold: float = DUPLICATE_IOU) -> bool:
    """Whether ``box`` overlaps one of ``others`` of the same class at IoU >= ``threshold``."""
    return any(o.category_id == box.category_id and iou(o.xyxy, box.xyxy) >= threshold for o in others)


def one_per_object(boxes: Iterable[Box], threshold: float = DUPLICATE_IOU) -> list[Box]:
    """``boxes`` with at most one box per object: best score first, a box overlapping a kept one
    at IoU >= ``threshold`` is dropped whatever its class. A detector suppresses overlaps within a
    class only, so one object often comes back twice, as two classes; a person labelling wants one
    box there, the likelier class (ADR 0026). Boxes without a score count as certain."""
    ranked = sorted(boxes, key=lambda b: -(1.0 if b.score is None else b.score))
    kept: list[Box] = []
    for box in ranked:
        if all(iou(k.xyxy, box.xyxy) < threshold for k in kept):
            kept.append(box)
    return kept


def clip_xyxy(x1: float, y1: float, x2: float, y2: float, width: float, height: float) -> tuple[float, float, float, float]:
    """The one clip rule: corners normalised (x1 <= x2, y1 <= y2), clipped to ``[0, width] x [0,
    height]``; raises :class:`InvalidBoxError` (saying why) for non-finite corners or when less than
    :data:`MIN_BOX_SIZE` remains in either direction. The store, the canvas and the training data
    all clip with this."""
    vals = (x1, y1, x2, y2)
    if any(v != v or v in (float("inf"), float("-inf")) for v in vals):
        raise InvalidBoxError(f"box has non-finite coordinates {vals}")
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    x1 = min(max(x1, 0.0), float(width))
    x2 = min(max(x2, 0.0), float(width))
    y1 = min(max(y1, 0.0), float(height))
    y2 = min(max(y2, 0.0), float(height))
    if x2 - x1 < MIN_BOX_SIZE or y2 - y1 < MIN_BOX_SIZE:
        raise InvalidBoxError(
            f"box {x2 - x1:.2f}x{y2 - y1:.2f} px is under the {MIN_BOX_SIZE:g} px minimum "
            f"after clipping to the {width}x{height} image"
        )
    return (x1, y1, x2, y2)


def clip_box(box: Box, width: float, height: float) -> Box:
    """``box`` clipped to the image by :func:`clip_xyxy` (a box dragged right-to-left is valid)."""
    return box.with_coords(*clip_xyxy(box.x1, box.y1, box.x2, box.y2, width, height))


@dataclass(frozen=True)
class ImageRecord:
    """One image file, or one frame of a video.

    For a still image ``path`` is the file and ``frame_index`` is None. For a video frame
    ``path`` is the video file, ``frame_index`` the 0-based frame number and ``timestamp`` its
    time in seconds. ``width``/``height`` are the upright size (0 until known). ``split`` is the
    dataset split the image came from (``train``, ``val``, ``test``, ...; None when unknown).
    ``extra`` keeps a label file's per-image fields rnxstudio does not use (COCO ``coco_url``,
    ``license``, the original ``id``; VOC ``<source>``, ...), per format, like :attr:`Box.extra`.
    """

    path: str
    id: int = 0
    width: int = 0
    height: int = 0
    frame_index: int | None = None
    timestamp: float | None = None
    status: ImageStatus = ImageStatus.UNLABELED
    error: str | None = None
    missing: bool = False
    split: str | None = None
    extra: dict = field(default_factory=dict, hash=False)

    @property
    def is_video_frame(self) -> bool:
        return self.frame_index is not None

    @property
    def display_name(self) -> str:
        name = self.path.replace("\\", "/").rsplit("/", 1)[-1]
        if self.frame_index is not None:
            return f"{name} #{self.frame_index:06d}"
        return name


@dataclass
class LabelSet:
    """A self-contained set of labels: what the formats read and write and what the store
    exports/imports. ``boxes`` maps an image's position key (``ImageRecord.id``) to its boxes.

    File names in ``images[i].path`` are relative to ``root`` when ``root`` is set.

    ``info``, ``licenses`` and ``extra`` (unknown top-level keys, per format) are the data set's
    own description, kept from a COCO file and written back. ``unplaced`` counts the boxes of
    label entries whose image could not be found (name -> boxes), and ``skipped`` says what a
    reader left out of an otherwise good file (e.g. a zero-width box) and ``warnings`` what it
    noticed but kept (e.g. boxes that disagree with their own polygons), for the import summary.
    """

    categories: list[Category] = field(default_factory=list)
    images: list[ImageRecord] = field(default_factory=list)
    boxes: dict[int, list[Box]] = field(default_factory=dict)
    root: str | None = None
    info: dict = field(default_factory=dict)
    licenses: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    unplaced: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def category_by_id(self) -> dict[int, Category]:
        return {c.id: c for c in self.categories}

    def boxes_for(self, image: ImageRecord) -> list[Box]:
        return self.boxes.get(image.id, [])

    def training_boxes(self, image: ImageRecord) -> list[Box]:
        """The boxes a detector learns from on ``image`` (crowd regions left out): the one rule
        training data is built with."""
        return [b for b in self.boxes.get(image.id, []) if b.is_training_target]

    def eval_ground_truth(self, image: ImageRecord) -> list[tuple[Box, bool]]:
        """``(box, ignored)`` for every box of ``image``: the one rule evaluation follows
        (``ignored`` for crowd regions and PASCAL 'difficult' boxes)."""
        return [(b, b.ignore_in_eval) for b in self.boxes.get(image.id, [])]

    @property
    def num_boxes(self) -> int:
        return sum(len(v) for v in self.boxes.values())
