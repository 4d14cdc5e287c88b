"""The loop benchmark's simulated annotator and its cost model (no torch, no Qt).

The annotator knows the ground truth and works one image at a time through the project session,
with the same core commands the GUI's editing actions push (:mod:`rnxstudio.core.commands`):

* it sees the predictions scoring at least the slider's threshold (the canvas hides the rest);
* predictions are paired one-to-one with ground-truth boxes at IoU >= 0.5 (right class first,
  then higher IoU); a pair at IoU >= 0.7 with the right class is **accepted**, one at IoU >= 0.7
  with the wrong class is **relabelled**, one at 0.5 <= IoU < 0.7 is **adjusted** to the true box
  (and relabelled too when its class is wrong); predictions left unpaired are **rejected**;
* ground-truth boxes left unpaired are **drawn** (a manual box); then the image is **verified**.

Accepting happens one prediction at a time ("one": :class:`~rnxstudio.core.commands.AcceptPredictions`
per box) or, after the fixes, with the accept-all-above-the-slider button ("all":
:class:`~rnxstudio.core.commands.AcceptAllAbove`). The resulting labels are the same either way;
only the cost differs (see :class:`Costs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from rnxstudio.core import commands as cmd
from rnxstudio.core.model import Box, BoxSource
from rnxstudio.data.events import EditRefused

ACCEPT_IOU = 0.7
ADJUST_IOU = 0.5


@dataclass(frozen=True)
class Costs:
    """Seconds per action. Defaults and where they come from (printed by the benchmark):

    draw     7.0  extreme clicking, Papadopoulos et al., ICCV 2017 (25.5 s with the ILSVRC
                  interface, Su et al., HCOMP workshop 2012: ``--draw-cost 25.5``)
    verify   1.6  a yes/no box verification, Papadopoulos et al., CVPR 2016 (the figure the brief
                  gives; not confirmed from the paper's text here, see docs/PERFORMANCE.md)
    reject   = verify: the same yes/no judgement answered "no", one key to delete
    relabel  = 2 x verify: the judgement plus a second decision of the same size, which class
    adjust   = verify + 2 x draw/4: an extreme-click box is 4 clicks, one per edge; a box at
                  0.5 <= IoU < 0.7 typically needs two of its edges moved
    image    = verify: the last yes/no question "is everything on this image labelled?", asked in
                  both workflows (drawing-only pays it too)
    accept_all = verify: one yes/no look at all the boxes the accept-all button takes at once
    """

    draw: float = 7.0
    verify: float = 1.6
    reject: float | None = None
    relabel: float | None = None
    adjust: float | None = None
    image: float | None = None
    accept_all: float | None = None

    def resolved(self) -> Costs:
        v, d = self.verify, self.draw
        return Costs(draw=d, verify=v, reject=v if self.reject is None else self.reject,
                     relabel=2 * v if self.relabel is None else self.relabel,
                     adjust=v + d / 2 if self.adjust is None else self.adjust,
                     image=v if self.image is None else self.image,
                     accept_all=v if self.accept_all is None else self.accept_all)

    def table(self) -> list[tuple[str, float, str]]:
        """(action, seconds, source) rows for printing."""
        c = self.resolved()
        src = {
            "draw": "extreme clicking, Papadopoulos et al. ICCV 2017 (ILSVRC interface 25.5 s, Su et al. 2012)",
            "verify": "yes/no box verification, Papadopoulos et al. CVPR 2016 (figure not confirmed from the text)",
            "reject": "= verify (the same judgement, answered no)",
            "relabel": "= 2 x verify (judgement + choosing the class)",
            "adjust": "= verify + 2 of an extreme-click box's 4 edge clicks (draw / 2)",
            "image": "= verify (is this image complete? both workflows)",
            "accept_all": "= verify (one look at the boxes accept-all takes)",
        }
        return [(f.name, float(getattr(c, f.name)), src[f.name]) for f in fields(c)]


@dataclass
class Actions:
    """What the annotator did on some images (counts)."""

    images: int = 0
    truth: int = 0  # ground-truth boxes
    accepted: int = 0
    relabelled: int = 0  # right box, wrong class
    adjusted: int = 0  # 0.5 <= IoU < 0.7 (relabelled too when the class was wrong: counted in both)
    rejected: int = 0
    drawn: int = 0
    accept_all_images: int = 0  # images where the accept-all button took at least one box

    def __iadd__(self, other: Actions) -> Actions:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def drawing_seconds(a: Actions, costs: Costs) -> float:
    """Seconds to label the same images by drawing every box."""
    c = costs.resolved()
    return a.images * c.image + a.truth * c.draw


def loop_seconds(a: Actions, costs: Costs, accept: str = "all") -> float:
    """Seconds the loop's actions cost, accepting one by one ("one") or with accept-all ("all")."""
    c = costs.resolved()
    fixes = a.relabelled * c.relabel + a.adjusted * c.adjust + a.rejected * c.reject + a.drawn * c.draw
    accepting = a.accept_all_images * c.accept_all if accept == "all" else a.accepted * c.verify
    return a.images * c.image + fixes + accepting


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def pair(preds: Sequence[Box], truth: Sequence[Box]) -> list[tuple[int, int, float]]:
    """One-to-one (prediction index, truth index, IoU) pairs at IoU >= 0.5: right class first,
    then higher IoU."""
    iou = _iou(np.array([p.xyxy for p in preds], float).reshape(-1, 4), np.array([t.xyxy for t in truth], float).reshape(-1, 4))
    cand = [(p.category_id == truth[j].category_id, iou[i, j], i, j)
            for i, p in enumerate(preds) for j in range(len(truth)) if iou[i, j] >= ADJUST_IOU]
    cand.sort(key=lambda c: (not c[0], -c[1], c[2], c[3]))
    used_p, used_t, out = set(), set(), []
    for _same, v, i, j in cand:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            out.append((i, j, float(v)))
    return out


def annotate(session, image_id: int, truth: Sequence[Box], *, threshold: float = 0.5, accept: str = "all") -> Actions:
    """Label one image against ``truth`` (boxes with project category ids) through ``session``,
    starting from the predictions stored on it; returns the action counts."""
    if accept not in ("all", "one"):
        raise ValueError(f"accept must be 'all' or 'one', not {accept!r}")
    boxes = session.store.boxes(image_id, include_predictions=True)
    visible = [b for b in boxes if b.source is BoxSource.PREDICTED and (b.score or 0.0) >= threshold]
    a = Actions(images=1, truth=len(truth))
    pairs = pair(visible, truth)
    paired_p = {i for i, _j, _v in pairs}
    paired_t = {j for _i, j, _v in pairs}
    to_accept = []
    for i, j, v in pairs:
        p, t = visible[i], truth[j]
        wrong_class = p.category_id != t.category_id
        if v >= ACCEPT_IOU and not wrong_class:
            a.accepted += 1
            to_accept.append(p.id)
            continue
        if v < ACCEPT_IOU:
            a.adjusted += 1
            _push(session, cmd.MoveResizeBox(p.id, *t.xyxy))
        if wrong_class:
            a.relabelled += 1
            _push(session, cmd.Relabel([p.id], t.category_id))
    rejects = [visible[i].id for i in range(len(visible)) if i not in paired_p]
    if rejects:
        a.rejected = len(rejects)
        _push(session, cmd.RejectPredictions(rejects))
    for j, t in enumerate(truth):
        if j not in paired_t:
            a.drawn += 1
            _push(session, cmd.AddBox(Box(*t.xyxy, category_id=t.category_id, image_id=image_id, source=BoxSource.MANUAL)))
    if to_accept:
        if accept == "one":
            for box_id in to_accept:
                _push(session, cmd.AcceptPredictions([box_id]))
        else:
            a.accept_all_images = 1
            _push(session, cmd.AcceptAllAbove(image_id, threshold))
    # as the GUI does: verifying takes the predictions shown (>= the slider) along; none are left by now
    if not session.verify(image_id, shown_from=threshold):
        raise RuntimeError(f"image {image_id}: the session refused to verify it")
    return a


def _push(session, command: cmd.Command) -> None:
    refused: list[str] = []
    unsubscribe = session.subscribe(lambda e: refused.append(e.message) if isinstance(e, EditRefused) else None)
    try:
        ok = session.push(command)
    finally:
        unsubscribe()
    if not ok:
        raise RuntimeError(f"the session refused {command.text!r}: {'; '.join(refused)}")


def check_labels(session, image_id: int, truth: Sequence[Box]) -> None:
    """Raise if the person's boxes on ``image_id`` are not the ground truth (each true box matched
    by one box of its class at IoU >= 0.7): the annotator's work must leave correct labels."""
    mine = session.store.boxes(image_id, include_predictions=False)
    pairs = [(i, j) for i, j, v in pair(mine, truth) if v >= ACCEPT_IOU and mine[i].category_id == truth[j].category_id]
    if len(mine) != len(truth) or len(pairs) != len(truth):
        raise RuntimeError(f"image {image_id}: {len(mine)} labelled boxes, {len(pairs)} of {len(truth)} true boxes matched")
