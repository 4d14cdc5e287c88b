"""The review queue: which images are worth a person's time next (plain numpy, no Qt, no torch).

Two orderings, both computed from the boxes already in the project store:

* **disagreement** — for images a person has labelled (a manual/accepted box, or marked verified):
  false positives + false negatives between the model's predictions and the person's boxes at
  IoU >= 0.5, class-aware, predictions below the score threshold ignored. Matching is the same
  greedy-by-score rule as :func:`rnxstudio.ml.evaluate.greedy_match`, so the counts agree with
  the per-image TP/FP/FN of ``rnxstudio eval``.
* **uncertainty** — for images nobody has labelled yet: how many predictions have a score near
  the threshold (``|score - threshold| <= band``); ties go to the image whose uncertain
  predictions sit closest to the threshold.

What counts as "the model's predictions" on a labelled image: its *predicted* boxes, plus its
*accepted* boxes (a prediction the person kept) unless a predicted box of the same class already
covers that accepted box (IoU >= 0.9; this happens after re-running pre-labeling, which stores
fresh predictions next to the accepted ones). What counts as the truth: manual + accepted boxes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rnxstudio.core.model import Box, BoxSource, ImageStatus
from rnxstudio.ml.evaluate import IOU_MATCH, box_iou, greedy_match

MODES = ("disagreement", "uncertainty")
DUPLICATE_IOU = 0.9


@dataclass(frozen=True)
class MatchResult:
    """Class-aware matching of one image's predictions against its truth boxes (box ids)."""

    tp_ids: tuple[int, ...] = ()  # predictions that matched a truth box
    fp_ids: tuple[int, ...] = ()  # predictions that matched nothing
    fn_ids: tuple[int, ...] = ()  # truth boxes no prediction matched
    matched_truth_ids: tuple[int, ...] = ()

    @property
    def tp(self) -> int:
        return len(self.tp_ids)

    @property
    def fp(self) -> int:
        return len(self.fp_ids)

    @property
    def fn(self) -> int:
        return len(self.fn_ids)


@dataclass(frozen=True)
class ReviewItem:
    """One row of the queue."""

    image_id: int
    kind: str  # "disagreement" | "uncertainty"
    tp: int = 0
    fp: int = 0
    fn: int = 0
    uncertain: int = 0
    closeness: float = 0.0  # sum over uncertain predictions of (band - |score - threshold|)
    match: MatchResult = field(default_factory=MatchResult, compare=False)

    @property
    def disagreement(self) -> int:
        return self.fp + self.fn

    def describe(self) -> str:
        if self.kind == "disagreement":
            return f"FP {self.fp} + FN {self.fn} (TP {self.tp})"
        return f"{self.uncertain} prediction{'s' if self.uncertain != 1 else ''} near the threshold"


def _arrays(boxes: Sequence[Box]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xyxy = np.asarray([b.xyxy for b in boxes], dtype=np.float64).reshape(-1, 4)
    labels = np.asarray([b.category_id for b in boxes], dtype=np.int64)
    scores = np.asarray([1.0 if b.score is None else float(b.score) for b in boxes], dtype=np.float64)
    return xyxy, labels, scores


def split_boxes(boxes: Iterable[Box]) -> tuple[list[Box], list[Box]]:
    """(truth, predictions) of one image by the rules in the module docstring."""
    boxes = list(boxes)
    truth = [b for b in boxes if b.source in (BoxSource.MANUAL, BoxSource.ACCEPTED)]
    predicted = [b for b in boxes if b.source is BoxSource.PREDICTED]
    accepted = [b for b in boxes if b.source is BoxSource.ACCEPTED]
    preds = list(predicted)
    if accepted:
        if predicted:
            a_xy, a_lab, _ = _arrays(accepted)
            p_xy, p_lab, _ = _arrays(predicted)
            iou = box_iou(a_xy, p_xy)
            same = a_lab[:, None] == p_lab[None, :]
            covered = ((iou >= DUPLICATE_IOU) & same).any(axis=1)
        else:
            covered = np.zeros(len(accepted), dtype=bool)
        preds += [b for b, c in zip(accepted, covered) if not c]
    return truth, preds


def match_boxes(truth: Sequence[Box], predictions: Sequence[Box], *, score_thresh: float = 0.5,
                iou_thresh: float = IOU_MATCH) -> MatchResult:
    """TP/FP/FN (as box ids) of ``predictions`` scoring >= ``score_thresh`` against ``truth``."""
    preds = [p for p in predictions if (1.0 if p.score is None else p.score) >= score_thresh]
    g_xy, g_lab, _ = _arrays(truth)
    p_xy, p_lab, p_sc = _arrays(preds)
    m = greedy_match(g_xy, g_lab, p_xy, p_lab, p_sc, iou_thresh=iou_thresh, class_aware=True)
    matched = {g for g in m if g >= 0}
    return MatchResult(
        tp_ids=tuple(preds[d].id for d, g in enumerate(m) if g >= 0),
        fp_ids=tuple(preds[d].id for d, g in enumerate(m) if g < 0),
        fn_ids=tuple(truth[g].id for g in range(len(truth)) if g not in matched),
        matched_truth_ids=tuple(truth[g].id for g in sorted(matched)),
    )


def uncertainty(predictions: Sequence[Box], *, score_thresh: float = 0.5, band: float = 0.15) -> tuple[int, float]:
    """(count of predictions with ``|score - score_thresh| <= band``, summed closeness)."""
    scores = np.asarray([p.score for p in predictions if p.score is not None], dtype=np.float64)
    dist = np.abs(scores - score_thresh)
    near = dist <= band + 1e-12
    return int(near.sum()), float((band - dist[near]).sum())


def is_labelled(status: ImageStatus, truth: Sequence[Box]) -> bool:
    """A person has worked on this image: it has their boxes, or it is marked verified."""
    return bool(truth) or status is ImageStatus.VERIFIED


def review_item(image_id: int, status: ImageStatus, boxes: Iterable[Box], *, score_thresh: float = 0.5,
                band: float = 0.15) -> ReviewItem | None:
    """The queue entry of one image, or None when it has no predictions at all (the model has
    not been run on it, or found nothing: the store cannot tell these apart)."""
    truth, preds = split_boxes(boxes)
    if not preds:
        return None
    if is_labelled(status, truth):
        m = match_boxes(truth, preds, score_thresh=score_thresh)
        return ReviewItem(image_id, "disagreement", tp=m.tp, fp=m.fp, fn=m.fn, match=m)
    n, close = uncertainty(preds, score_thresh=score_thresh, band=band)
    return ReviewItem(image_id, "uncertainty", uncertain=n, closeness=close)


def rank(items: Iterable[ReviewItem | None], mode: str = "disagreement", *, include_zero: bool = False) -> list[ReviewItem]:
    """Items of ``mode``'s kind, most worth reviewing first (ties: lower image id first).

    disagreement: FP+FN, then FN (a missed object costs more than an extra box); uncertainty:
    the count of near-threshold predictions, then their closeness. Items scoring zero are left
    out unless ``include_zero``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    chosen = [it for it in items if it is not None and it.kind == mode]
    if mode == "disagreement":
        if not include_zero:
            chosen = [it for it in chosen if it.disagreement > 0]
        return sorted(chosen, key=lambda it: (-it.disagreement, -it.fn, it.image_id))
    if not include_zero:
        chosen = [it for it in chosen if it.uncertain > 0]
    return sorted(chosen, key=lambda it: (-it.uncertain, -it.closeness, it.image_id))


def review_queue(store, mode: str = "disagreement", *, score_thresh: float = 0.5, band: float = 0.15,
                 include_zero: bool = False, image_ids: Sequence[int] | None = None) -> list[ReviewItem]:
    """Rank a project's images (a :class:`~rnxstudio.data.store.ProjectStore`) for review."""
    ids = list(store.image_ids()) if image_ids is None else list(image_ids)
    items = []
    for rec in store.images(ids):
        if rec.missing:
            continue
        items.append(review_item(rec.id, rec.status, store.boxes(rec.id, include_predictions=True),
                                 score_thresh=score_thresh, band=band))
    return rank(items, mode, include_zero=include_zero)
