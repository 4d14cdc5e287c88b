"""Detection evaluation: COCO metrics (through pycocotools' COCOeval, never a hand-written AP),
per-class AP and precision/recall curves, a confusion matrix and per-image TP/FP/FN.

Inputs
------
``gt``: a :class:`~rnxstudio.core.model.LabelSet` or a COCO dict (``images``, ``annotations``,
``categories``). Only the ``images`` listed in ``gt`` are evaluated.

``detections``: ``{image_id: dets}`` where ``dets`` is any of
  * a mapping with ``boxes`` (N×4 xyxy), ``scores`` (N) and ``labels`` (N, *category ids*),
  * an object with those three attributes (e.g. ``ml.predict.Detections``; tensors are fine),
  * a list of :class:`~rnxstudio.core.model.Box` (``score`` None counts as 1.0).
Images of ``gt`` missing from ``detections`` have no detections.

Matching rules (IoU threshold 0.5, detections below ``score_thresh`` ignored, each detection
considered once, highest score first — "greedy by score"):
  * per-image TP/FP/FN are *class-aware*: a detection is a TP when an unmatched ground-truth box
    of its own class overlaps it with IoU >= 0.5 (the highest-IoU such box is taken); otherwise FP.
    Ground-truth boxes left unmatched are FN.
  * the confusion matrix is *class-agnostic*: a detection is matched to the unmatched ground-truth
    box of any class with the highest IoU >= 0.5 and counted in ``matrix[gt class][pred class]``;
    an unmatched detection counts in ``matrix[background][pred class]`` and an unmatched
    ground-truth box in ``matrix[gt class][background]``. Rows are ground truth, columns are
    predictions; the last row/column is "background". Ties in IoU go to the lower index.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rnxstudio.core.model import LabelSet

IOU_MATCH = 0.5
BACKGROUND = "background"
_STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


@dataclass
class ImageCounts:
    """Class-aware matching result for one image (indices refer to the input order)."""

    tp: int
    fp: int
    fn: int
    fp_detections: list[int] = field(default_factory=list)
    fn_ground_truth: list[int] = field(default_factory=list)


@dataclass
class ClassResult:
    id: int
    name: str
    num_gt: int
    num_det: int
    AP: float | None  # noqa: N815 - the COCO metric name
    AP50: float | None  # noqa: N815
    AP75: float | None  # noqa: N815


@dataclass
class EvalResult:
    """Plain-data evaluation result; ``to_dict()`` is JSON-serialisable.

    ``metrics`` holds the 12 COCO summary numbers (None where COCO reports -1, i.e. no ground
    truth in that area range). ``pr_curves[name]`` has ``recall`` (101 points) and ``precision``
    at IoU 0.5 (None where undefined).
    """

    metrics: dict[str, float | None]
    per_class: list[ClassResult]
    pr_curves: dict[str, dict[str, list[float | None]]]
    confusion_labels: list[str]
    confusion: list[list[int]]
    per_image: dict[int, ImageCounts]
    num_images: int
    num_gt: int
    num_det: int
    score_thresh: float
    ignored_detections: int = 0

    @property
    def map(self) -> float:
        """COCO AP@[.5:.95] (0.0 when undefined): the number "best checkpoint" is chosen by."""
        return float(self.metrics.get("AP") or 0.0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["per_image"] = {str(k): asdict(v) for k, v in self.per_image.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvalResult:
        return cls(
            metrics=dict(d["metrics"]),
            per_class=[ClassResult(**c) for c in d["per_class"]],
            pr_curves={k: dict(v) for k, v in d["pr_curves"].items()},
            confusion_labels=list(d["confusion_labels"]),
            confusion=[list(r) for r in d["confusion"]],
            per_image={int(k): ImageCounts(**v) for k, v in d["per_image"].items()},
            num_images=int(d["num_images"]),
            num_gt=int(d["num_gt"]),
            num_det=int(d["num_det"]),
            score_thresh=float(d["score_thresh"]),
            ignored_detections=int(d.get("ignored_detections", 0)),
        )

    def format_table(self) -> str:
        """A human-readable table: summary metrics, then per-class AP."""

        def f(v: float | None) -> str:
            return "  n/a" if v is None else f"{v:5.3f}"

        lines = [
            f"images {self.num_images}  ground truth {self.num_gt}  detections {self.num_det}",
            "  ".join(f"{k} {f(v)}" for k, v in list(self.metrics.items())[:6]),
            "  ".join(f"{k} {f(v)}" for k, v in list(self.metrics.items())[6:]),
            "",
            f"{'class':<20} {'gt':>5} {'det':>5} {'AP':>6} {'AP50':>6} {'AP75':>6}",
        ]
        for c in self.per_class:
            lines.append(f"{c.name[:20]:<20} {c.num_gt:>5} {c.num_det:>5} {f(c.AP):>6} {f(c.AP50):>6} {f(c.AP75):>6}")
        tp = sum(c.tp for c in self.per_image.values())
        fp = sum(c.fp for c in self.per_image.values())
        fn = sum(c.fn for c in self.per_image.values())
        lines.append("")
        lines.append(f"at score >= {self.score_thresh:g}, IoU >= {IOU_MATCH}: TP {tp}  FP {fp}  FN {fn}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# input normalisation


def labelset_to_coco(ls: LabelSet) -> dict[str, Any]:
    """Ground truth COCO dict for evaluation, built by :func:`rnxstudio.data.coco.to_coco_dict` (the
    one LabelSet -> COCO: crowd regions ``iscrowd: 1``, PASCAL-difficult boxes ``difficult: 1``,
    both ignored here by the one rule of ``Box.ignore_in_eval``), with the LabelSet's own image ids
    so detections keyed by them match."""
    from rnxstudio.data.coco import to_coco_dict

    ids = [im.id for im in ls.images]
    if not all(isinstance(i, int) and i >= 1 for i in ids) or len(set(ids)) != len(ids):
        raise ValueError("evaluation needs unique positive image ids in the ground truth")
    coco = to_coco_dict(ls)
    own = {entry["id"]: im.id for entry, im in zip(coco["images"], ls.images)}  # written in ls order
    for entry in coco["images"]:
        entry["id"] = own[entry["id"]]
    for a in coco["annotations"]:
        a["image_id"] = own[a["image_id"]]
    return coco


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def detections_to_arrays(dets: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalise one image's detections to (boxes N×4 float64 xyxy, scores N, labels N int)."""
    if dets is None:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)
    if isinstance(dets, Mapping):
        boxes, scores, labels = dets["boxes"], dets["scores"], dets["labels"]
    elif isinstance(dets, (list, tuple)):
        boxes = [(b.x1, b.y1, b.x2, b.y2) for b in dets]
        scores = [1.0 if b.score is None else float(b.score) for b in dets]
        labels = [int(b.category_id) for b in dets]
    else:
        boxes, scores, labels = dets.boxes, dets.scores, dets.labels
    b = _to_numpy(boxes).astype(np.float64).reshape(-1, 4)
    s = _to_numpy(scores).astype(np.float64).reshape(-1)
    lab = _to_numpy(labels).astype(np.int64).reshape(-1)
    if not (len(b) == len(s) == len(lab)):
        raise ValueError(f"detections have {len(b)} boxes, {len(s)} scores and {len(lab)} labels")
    return b, s, lab


def _ignored_gt(a: dict[str, Any]) -> bool:
    """Crowd regions and PASCAL 'difficult' boxes: neither misses nor matches (see core.model.Box)."""
    return bool(a.get("iscrowd", 0) or a.get("difficult", 0))


def _ignore_regions(coco: dict[str, Any]) -> dict[int, np.ndarray]:
    out: dict[int, list] = {}
    for a in coco["annotations"]:
        if _ignored_gt(a):
            x, y, w, h = a["bbox"]
            out.setdefault(int(a["image_id"]), []).append((x, y, x + w, y + h))
    return {k: np.asarray(v, dtype=np.float64).reshape(-1, 4) for k, v in out.items()}


def _on_ignored(box: np.ndarray, regions: np.ndarray | None) -> bool:
    """A detection mostly (>= half its area) inside an ignored region is not a false positive."""
    if regions is None or len(regions) == 0:
        return False
    ix = np.clip(np.minimum(box[2], regions[:, 2]) - np.maximum(box[0], regions[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], regions[:, 3]) - np.maximum(box[1], regions[:, 1]), 0, None)
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-12)
    return bool((ix * iy / area >= IOU_MATCH).any())


def _coco_eval(coco_gt, coco_dt):
    """COCOeval (bbox) that also ignores ground truth marked ``difficult`` (its _prepare sets
    ``ignore`` from ``iscrowd`` only): detections matching such a box are neither TP nor FP."""
    from pycocotools.cocoeval import COCOeval

    class _IgnoreDifficult(COCOeval):
        def _prepare(self):
            super()._prepare()
            for gts in self._gts.values():
                for g in gts:
                    if g.get("difficult"):
                        g["ignore"] = 1

    return _IgnoreDifficult(coco_gt, coco_dt, "bbox")


def _gt_arrays(coco: dict[str, Any]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    out: dict[int, tuple[list, list]] = {int(im["id"]): ([], []) for im in coco["images"]}
    for a in coco["annotations"]:
        if _ignored_gt(a):
            continue
        iid = int(a["image_id"])
        if iid not in out:
            continue
        x, y, w, h = a["bbox"]
        out[iid][0].append((x, y, x + w, y + h))
        out[iid][1].append(int(a["category_id"]))
    return {
        k: (np.asarray(v[0], dtype=np.float64).reshape(-1, 4), np.asarray(v[1], dtype=np.int64)) for k, v in out.items()
    }


# ---------------------------------------------------------------------------------------------
# matching


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes (len(a) × len(b))."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def greedy_match(
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    det_boxes: np.ndarray,
    det_labels: np.ndarray,
    det_scores: np.ndarray,
    *,
    iou_thresh: float = IOU_MATCH,
    class_aware: bool = True,
) -> list[int]:
    """For each detection (input order), the index of the ground-truth box it matched, or -1.

    Detections are visited by descending score (stable for ties); each takes the unmatched
    ground-truth box with the highest IoU >= ``iou_thresh`` (of its own class if
    ``class_aware``)."""
    match = [-1] * len(det_boxes)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return match
    iou = box_iou(det_boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for d in np.argsort(-det_scores, kind="stable"):
        cand = iou[d].copy()
        cand[taken] = -1.0
        if class_aware:
            cand[gt_labels != det_labels[d]] = -1.0
        g = int(np.argmax(cand))
        if cand[g] >= iou_thresh:
            taken[g] = True
            match[int(d)] = g
    return match


# ---------------------------------------------------------------------------------------------
# COCOeval


def _coco_from_dict(d: dict[str, Any]):
    from pycocotools.coco import COCO

    c = COCO()
    c.dataset = d
    with contextlib.redirect_stdout(io.StringIO()):
        c.createIndex()
    return c


def _none_if_neg(v: float) -> float | None:
    return None if v < 0 else float(v)


def _mean_valid(p: np.ndarray) -> float | None:
    p = p[p > -1]
    return float(p.mean()) if p.size else None


def evaluate(
    gt: LabelSet | dict[str, Any],
    detections: Mapping[int, Any],
    *,
    score_thresh: float = 0.5,
    verbose: bool = False,
) -> EvalResult:
    """Evaluate ``detections`` against ``gt`` (see the module docstring for the formats).

    COCO metrics use every detection (up to 100 per image by score, as COCO does);
    ``score_thresh`` applies only to the confusion matrix and the per-image TP/FP/FN.
    pycocotools' own prints are silenced unless ``verbose``.
    """
    gt_dict = labelset_to_coco(gt) if isinstance(gt, LabelSet) else gt
    for key in ("images", "annotations", "categories"):
        if key not in gt_dict:
            raise ValueError(f"ground truth has no '{key}' list")
    gt_dict = {
        "images": list(gt_dict["images"]),
        "annotations": [dict(a, area=a.get("area", a["bbox"][2] * a["bbox"][3]), iscrowd=a.get("iscrowd", 0))
                        for a in gt_dict["annotations"]],
        "categories": list(gt_dict["categories"]),
    }
    for i, a in enumerate(gt_dict["annotations"]):
        a.setdefault("id", i + 1)
    image_ids = [int(im["id"]) for im in gt_dict["images"]]
    cat_ids = [int(c["id"]) for c in gt_dict["categories"]]
    cat_names = {int(c["id"]): str(c["name"]) for c in gt_dict["categories"]}
    known_cats = set(cat_ids)

    per_det: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    dt_anns: list[dict[str, Any]] = []
    ignored = 0
    for iid in image_ids:
        b, s, lab = detections_to_arrays(detections.get(iid))
        keep = np.isin(lab, list(known_cats)) & np.isfinite(s) & np.isfinite(b).all(axis=1)
        ignored += int((~keep).sum())
        b, s, lab = b[keep], s[keep], lab[keep]
        per_det[iid] = (b, s, lab)
        for (x1, y1, x2, y2), sc, lb in zip(b, s, lab):
            w, h = float(x2 - x1), float(y2 - y1)
            dt_anns.append(
                {
                    "id": len(dt_anns) + 1,
                    "image_id": iid,
                    "category_id": int(lb),
                    "bbox": [float(x1), float(y1), w, h],
                    "area": w * h,
                    "score": float(sc),
                    "iscrowd": 0,
                }
            )
    ignored += sum(1 for k in detections if int(k) not in set(image_ids))

    coco_gt = _coco_from_dict(gt_dict)
    coco_dt = _coco_from_dict({"images": gt_dict["images"], "categories": gt_dict["categories"], "annotations": dt_anns})
    ev = _coco_eval(coco_gt, coco_dt)
    ev.params.imgIds = image_ids
    ev.params.catIds = cat_ids
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    if verbose:
        print(out.getvalue(), end="")
    metrics = {name: _none_if_neg(float(v)) for name, v in zip(_STAT_NAMES, ev.stats)}

    # per-class numbers from eval['precision'] [T, R, K, A, M] (area "all", maxDets 100)
    precision = ev.eval["precision"]
    k_index = {c: i for i, c in enumerate(ev.params.catIds)}
    t50 = int(np.argmin(np.abs(ev.params.iouThrs - 0.5)))
    t75 = int(np.argmin(np.abs(ev.params.iouThrs - 0.75)))
    gt_by_img = _gt_arrays(gt_dict)
    ignore_by_img = _ignore_regions(gt_dict)
    n_gt = {c: 0 for c in cat_ids}
    for _, labels in gt_by_img.values():
        for c in labels.tolist():
            n_gt[c] = n_gt.get(c, 0) + 1
    n_det = {c: 0 for c in cat_ids}
    for a in dt_anns:
        n_det[a["category_id"]] += 1
    per_class: list[ClassResult] = []
    pr_curves: dict[str, dict[str, list[float | None]]] = {}
    recall_pts = [float(r) for r in ev.params.recThrs]
    for c in cat_ids:
        k = k_index[c]
        pk = precision[:, :, k, 0, -1]
        per_class.append(
            ClassResult(
                id=c, name=cat_names[c], num_gt=n_gt.get(c, 0), num_det=n_det.get(c, 0),
                AP=_mean_valid(pk), AP50=_mean_valid(pk[t50]), AP75=_mean_valid(pk[t75]),
            )
        )
        pr_curves[cat_names[c]] = {"recall": recall_pts, "precision": [_none_if_neg(float(p)) for p in pk[t50]]}

    # confusion matrix (class-agnostic) and per-image counts (class-aware)
    labels = [cat_names[c] for c in cat_ids] + [BACKGROUND]
    pos = {c: i for i, c in enumerate(cat_ids)}
    bg = len(cat_ids)
    matrix = np.zeros((bg + 1, bg + 1), dtype=np.int64)
    per_image: dict[int, ImageCounts] = {}
    for iid in image_ids:
        gb, gl = gt_by_img[iid]
        b, s, lab = per_det[iid]
        sel = np.nonzero(s >= score_thresh)[0]
        b, s, lab = b[sel], s[sel], lab[sel]
        m = greedy_match(gb, gl, b, lab, s, class_aware=False)
        for d, g in enumerate(m):
            if g >= 0:
                matrix[pos[int(gl[g])], pos[int(lab[d])]] += 1
            elif not _on_ignored(b[d], ignore_by_img.get(iid)):
                matrix[bg, pos[int(lab[d])]] += 1
        for g in sorted(set(range(len(gb))) - {g for g in m if g >= 0}):
            matrix[pos[int(gl[g])], bg] += 1
        m = greedy_match(gb, gl, b, lab, s, class_aware=True)
        matched = {g for g in m if g >= 0}
        fps = [d for d, g in enumerate(m) if g < 0 and not _on_ignored(b[d], ignore_by_img.get(iid))]
        per_image[iid] = ImageCounts(
            tp=len(matched),
            fp=len(fps),
            fn=len(gb) - len(matched),
            fp_detections=[int(sel[d]) for d in fps],
            fn_ground_truth=[g for g in range(len(gb)) if g not in matched],
        )

    return EvalResult(
        metrics=metrics,
        per_class=per_class,
        pr_curves=pr_curves,
        confusion_labels=labels,
        confusion=matrix.tolist(),
        per_image=per_image,
        num_images=len(image_ids),
        num_gt=sum(n_gt.values()),
        num_det=len(dt_anns),
        score_thresh=float(score_thresh),
        ignored_detections=ignored,
    )
