"""ml/evaluate.py: COCO metrics equal pycocotools run directly, perfect predictions, the
confusion matrix on a constructed case, per-image TP/FP/FN."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from rnxstudio.core.model import Box, Category, ImageRecord, LabelSet
from rnxstudio.ml.evaluate import EvalResult, evaluate, greedy_match

pytest.importorskip("pycocotools")


def _gt() -> dict:
    rng = np.random.default_rng(3)
    images, anns = [], []
    for i in range(1, 9):
        images.append({"id": i, "width": 200, "height": 160, "file_name": f"{i}.png"})
        for _ in range(int(rng.integers(0, 5))):
            x, y = rng.uniform(0, 120), rng.uniform(0, 90)
            w, h = rng.uniform(8, 70), rng.uniform(8, 60)
            anns.append(
                {"id": len(anns) + 1, "image_id": i, "category_id": int(rng.integers(1, 4)),
                 "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
            )
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
    return {"images": images, "annotations": anns, "categories": cats}


def _noisy_dets(gt: dict, seed: int = 5) -> dict[int, dict]:
    rng = np.random.default_rng(seed)
    dets: dict[int, dict] = {im["id"]: {"boxes": [], "scores": [], "labels": []} for im in gt["images"]}
    for a in gt["annotations"]:
        if rng.random() < 0.2:
            continue  # a miss
        x, y, w, h = a["bbox"]
        j = rng.normal(0, 4, 4)
        label = a["category_id"] if rng.random() > 0.15 else int(rng.integers(1, 4))
        d = dets[a["image_id"]]
        d["boxes"].append([x + j[0], y + j[1], x + w + j[2], y + h + j[3]])
        d["scores"].append(float(rng.uniform(0.3, 1)))
        d["labels"].append(label)
    for im in gt["images"]:  # false positives
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.uniform(0, 150), rng.uniform(0, 120)
            d = dets[im["id"]]
            d["boxes"].append([x, y, x + 20, y + 25])
            d["scores"].append(float(rng.uniform(0, 0.8)))
            d["labels"].append(int(rng.integers(1, 4)))
    return {k: {n: np.asarray(v, dtype=float).reshape(-1, 4) if n == "boxes" else np.asarray(v) for n, v in d.items()}
            for k, d in dets.items()}


def test_metrics_equal_direct_cocoeval():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = _gt()
    dets = _noisy_dets(gt)
    res = evaluate(gt, dets)

    results = []
    for iid, d in dets.items():
        for (x1, y1, x2, y2), s, lab in zip(d["boxes"], d["scores"], d["labels"]):
            results.append({"image_id": iid, "category_id": int(lab), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(s)})
    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = json.loads(json.dumps(gt))
        cg.createIndex()
        cd = cg.loadRes(results)
        ev = COCOeval(cg, cd, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ours = [res.metrics[k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")]
    for a, b in zip(ours, ev.stats):
        assert (a is None and b < 0) or a == pytest.approx(b, abs=1e-12)
    assert 0.2 < res.metrics["AP50"] < 0.99  # a real, imperfect case
    # per-class AP equals the mean over valid entries of COCO's precision array
    p = ev.eval["precision"]
    for k, c in enumerate(res.per_class):
        pk = p[:, :, k, 0, -1]
        assert c.AP == pytest.approx(pk[pk > -1].mean())
    assert res.num_det == len(results)


def test_perfect_predictions_give_ap_one():
    gt = _gt()
    dets: dict[int, dict] = {}
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        d = dets.setdefault(a["image_id"], {"boxes": [], "scores": [], "labels": []})
        d["boxes"].append([x, y, x + w, y + h])
        d["scores"].append(0.9)
        d["labels"].append(a["category_id"])
    res = evaluate(gt, dets)
    assert res.metrics["AP"] == pytest.approx(1.0)
    assert res.metrics["AP50"] == pytest.approx(1.0)
    assert all(c.AP == pytest.approx(1.0) for c in res.per_class if c.num_gt)
    assert sum(c.fp + c.fn for c in res.per_image.values()) == 0
    assert sum(c.tp for c in res.per_image.values()) == len(gt["annotations"])
    cm = np.array(res.confusion)
    assert cm.trace() == len(gt["annotations"]) and cm.sum() == cm.trace()


def test_confusion_matrix_constructed_case():
    # one image, classes 1 (cat) and 2 (dog)
    gt = LabelSet(
        categories=[Category(1, "cat"), Category(2, "dog")],
        images=[ImageRecord("x.png", id=7, width=100, height=100)],
        boxes={7: [Box(0, 0, 10, 10, 1), Box(20, 20, 30, 30, 1), Box(50, 50, 70, 70, 2), Box(80, 80, 95, 95, 2)]},
    )
    dets = {
        7: [
            Box(0, 0, 10, 10, 1, score=0.9),  # cat -> cat
            Box(20, 20, 30, 31, 2, score=0.8),  # cat predicted as dog
            Box(50, 50, 70, 70, 2, score=0.7),  # dog -> dog
            Box(0.5, 0.5, 10, 10, 1, score=0.6),  # duplicate of the first: background -> cat
            Box(40, 0, 60, 20, 2, score=0.95),  # nothing there: background -> dog
            Box(80, 80, 95, 95, 2, score=0.2),  # below the 0.5 threshold: ignored -> dog missed
        ]
    }
    res = evaluate(gt, dets, score_thresh=0.5)
    assert res.confusion_labels == ["cat", "dog", "background"]
    assert res.confusion == [
        [1, 1, 0],  # cat: 1 right, 1 called dog, 0 missed
        [0, 1, 1],  # dog: 1 right, 1 missed (its only detection is under the threshold)
        [1, 1, 0],  # background: 1 spurious cat (duplicate), 1 spurious dog
    ]
    c = res.per_image[7]
    # class-aware: TP cat, TP dog; FP: misclassified dog, duplicate cat, empty dog
    assert (c.tp, c.fp, c.fn) == (2, 3, 2)
    assert sorted(c.fp_detections) == [1, 3, 4]
    assert sorted(c.fn_ground_truth) == [1, 3]


def test_greedy_match_prefers_higher_score_then_higher_iou():
    gt_b = np.array([[0, 0, 10, 10], [1, 1, 11, 11]], dtype=float)
    gt_l = np.array([1, 1])
    det_b = np.array([[1, 1, 11, 11], [0, 0, 10, 10]], dtype=float)
    m = greedy_match(gt_b, gt_l, det_b, np.array([1, 1]), np.array([0.2, 0.9]))
    assert m == [1, 0]
    # wrong class is not matched when class-aware
    assert greedy_match(gt_b, gt_l, det_b, np.array([2, 2]), np.array([0.2, 0.9])) == [-1, -1]


def test_no_detections_and_json_round_trip():
    gt = _gt()
    res = evaluate(gt, {})
    assert res.metrics["AP"] == 0.0
    assert sum(c.fn for c in res.per_image.values()) == len(gt["annotations"])
    d = json.loads(json.dumps(res.to_dict()))
    back = EvalResult.from_dict(d)
    assert back.metrics == res.metrics and back.per_image == res.per_image
    assert "class" in res.format_table()


def test_unknown_category_detections_are_ignored_and_counted():
    gt = _gt()
    iid = gt["images"][0]["id"]
    res = evaluate(gt, {iid: {"boxes": [[0, 0, 5, 5]], "scores": [0.9], "labels": [99]}})
    assert res.ignored_detections == 1 and res.num_det == 0


def test_torch_tensors_accepted():
    torch = pytest.importorskip("torch")
    gt = _gt()
    a = gt["annotations"][0]
    x, y, w, h = a["bbox"]
    dets = {a["image_id"]: {"boxes": torch.tensor([[x, y, x + w, y + h]]), "scores": torch.tensor([0.9]),
                            "labels": torch.tensor([a["category_id"]])}}
    res = evaluate(gt, dets)
    assert res.per_image[a["image_id"]].tp == 1
