"""ml/review.py: review-queue ordering by disagreement (FP+FN at IoU 0.5) and by uncertainty,
on constructed cases with known answers, and on a real ProjectStore."""

from __future__ import annotations

import pytest

from rnxstudio.core.model import Box, BoxSource, ImageRecord, ImageStatus
from rnxstudio.ml.review import match_boxes, rank, review_item, review_queue, split_boxes, uncertainty

M, P, A = BoxSource.MANUAL, BoxSource.PREDICTED, BoxSource.ACCEPTED
_next_id = iter(range(1, 10_000))


def bx(x, y, s=10, cat=1, src=M, score=None):
    return Box(x, y, x + s, y + s, cat, id=next(_next_id), source=src, score=score)


def test_match_counts_tp_fp_fn_class_aware_and_iou():
    truth = [bx(0, 0), bx(50, 50), bx(100, 100, cat=2)]
    preds = [
        bx(1, 1, src=P, score=0.9),  # IoU 0.68 with truth[0]: TP
        bx(52, 58, src=P, score=0.8),  # IoU 0.15 with truth[1]: FP, truth[1] FN
        bx(100, 100, cat=1, src=P, score=0.9),  # right place, wrong class: FP, truth[2] FN
        bx(0, 0, src=P, score=0.3),  # below the score threshold: ignored
    ]
    m = match_boxes(truth, preds, score_thresh=0.5)
    assert (m.tp, m.fp, m.fn) == (1, 2, 2)
    assert m.tp_ids == (preds[0].id,)
    assert set(m.fp_ids) == {preds[1].id, preds[2].id}
    assert set(m.fn_ids) == {truth[1].id, truth[2].id}


def test_duplicate_detection_is_one_tp_one_fp():
    truth = [bx(0, 0)]
    preds = [bx(0, 0, src=P, score=0.6), bx(0, 0, src=P, score=0.9)]
    m = match_boxes(truth, preds)
    assert m.tp_ids == (preds[1].id,) and m.fp_ids == (preds[0].id,) and m.fn == 0


def test_split_boxes_accepted_counts_as_prediction_unless_repredicted():
    acc = bx(0, 0, src=A, score=0.8)
    man = bx(40, 40)
    truth, preds = split_boxes([acc, man])
    assert {b.id for b in truth} == {acc.id, man.id} and [b.id for b in preds] == [acc.id]
    again = bx(0, 0, src=P, score=0.85)  # fresh prediction on top of the accepted box
    truth, preds = split_boxes([acc, man, again])
    assert [b.id for b in preds] == [again.id]
    m = match_boxes(truth, preds)
    assert (m.tp, m.fp, m.fn) == (1, 0, 1)


def test_uncertainty_counts_near_threshold():
    preds = [bx(0, 0, src=P, score=s) for s in (0.95, 0.52, 0.40, 0.34, 0.05)]
    n, close = uncertainty(preds, score_thresh=0.5, band=0.15)
    assert n == 2  # 0.52 and 0.40 (0.34 is 0.16 away)
    assert close == pytest.approx((0.15 - 0.02) + (0.15 - 0.10))


def test_rank_disagreement_order_and_ties():
    items = [
        review_item(1, ImageStatus.IN_PROGRESS, [bx(0, 0), bx(0, 0, src=P, score=0.9)]),  # 0
        review_item(2, ImageStatus.IN_PROGRESS, [bx(0, 0), bx(30, 30), bx(60, 60)]
                    + [bx(200, 200, src=P, score=0.9)]),  # FP 1 + FN 3 = 4
        review_item(3, ImageStatus.VERIFIED, [bx(0, 0, src=P, score=0.9), bx(30, 30, src=P, score=0.9)]),
        # verified with no boxes: both predictions are FP -> 2
        review_item(4, ImageStatus.IN_PROGRESS, [bx(0, 0), bx(30, 30), bx(0, 0, src=P, score=0.9)]),  # FN 1
        review_item(5, ImageStatus.IN_PROGRESS, [bx(0, 0), bx(30, 30), bx(60, 60)]
                    + [bx(200, 200, src=P, score=0.9)]),  # 4, ties with 2 -> by id
        review_item(6, ImageStatus.IN_PROGRESS, [bx(0, 0), bx(40, 40, src=P, score=0.9), bx(0, 0, src=P, score=0.9)]),
        # FP 1 + FN 0 = 1, fewer FN than image 4's (FN 1) -> after 4
        review_item(7, ImageStatus.UNLABELED, [bx(0, 0, src=P, score=0.5)]),  # uncertainty kind
        review_item(8, ImageStatus.IN_PROGRESS, [bx(0, 0)]),  # no predictions: not rankable
    ]
    assert items[7] is None
    q = rank(items, "disagreement")
    assert [it.image_id for it in q] == [2, 5, 3, 4, 6]
    assert [it.disagreement for it in q] == [4, 4, 2, 1, 1]
    assert [it.image_id for it in rank(items, "disagreement", include_zero=True)][-1] == 1


def test_rank_uncertainty_order():
    def img(iid, scores):
        return review_item(iid, ImageStatus.PREDICTED, [bx(i * 20, 0, src=P, score=s) for i, s in enumerate(scores)])

    items = [img(1, [0.9, 0.95]), img(2, [0.45, 0.6]), img(3, [0.5, 0.9]), img(4, [0.4, 0.62, 0.55]), img(5, [0.49])]
    q = rank(items, "uncertainty")
    # 4: three near; 2: two near; 3 (0.5, closeness .15) before 5 (0.49, closeness .14); 1: none
    assert [it.image_id for it in q] == [4, 2, 3, 5]
    with pytest.raises(ValueError, match="mode"):
        rank(items, "nonsense")


def test_review_queue_on_a_store(tmp_path):
    from rnxstudio.data.store import ProjectStore

    store = ProjectStore.create(tmp_path / "p.rnxproj", root=tmp_path)
    cat = store.add_category("thing").id
    ids = store.add_images([ImageRecord(path=f"im{i}.png", width=100, height=100) for i in range(3)])
    # image 0: person box + matching prediction (agree); image 1: person box, prediction elsewhere
    store.add_box(Box(0, 0, 20, 20, cat, image_id=ids[0]))
    store.set_predictions(ids[0], [Box(1, 1, 20, 20, cat, score=0.9)], model_name="m")
    store.add_box(Box(0, 0, 20, 20, cat, image_id=ids[1]))
    store.set_predictions(ids[1], [Box(60, 60, 90, 90, cat, score=0.9)], model_name="m")
    # image 2: unlabeled with one near-threshold prediction
    store.set_predictions(ids[2], [Box(5, 5, 30, 30, cat, score=0.55)], model_name="m")
    q = review_queue(store, "disagreement")
    assert [(it.image_id, it.fp, it.fn) for it in q] == [(ids[1], 1, 1)]
    u = review_queue(store, "uncertainty")
    assert [(it.image_id, it.uncertain) for it in u] == [(ids[2], 1)]
    store.close()
