"""The accuracy guard: its arithmetic, and a small real version that passes the exact fast path and
fails a deliberately broken one (so the guard can fail)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnxstudio.ml import accuracy_guard as ag
from rnxstudio.ml import fast
from rnxstudio.ml.predict import Detections, Predictor


def _dets(boxes, labels, scores) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32),
                      np.array(labels, np.int64), ["a", "b"], (200, 200))


def test_matching_counts_confident_eager_boxes_one_to_one():
    eager = {1: _dets([[10, 10, 50, 50], [60, 60, 120, 120], [0, 0, 5, 5]], [1, 2, 1], [0.9, 0.6, 0.2])}
    same = {1: _dets([[10, 10, 50, 50], [60, 60, 120, 120]], [1, 2], [0.9, 0.45])}  # a fast 0.45 still matches
    assert ag.match_fraction(eager, same) == (1.0, 2)
    shifted = {1: _dets([[14, 14, 54, 54], [60, 60, 120, 120]], [1, 2], [0.9, 0.6])}  # IoU 0.67
    assert ag.match_fraction(eager, shifted) == (0.5, 2)
    relabelled = {1: _dets([[10, 10, 50, 50], [60, 60, 120, 120]], [2, 2], [0.9, 0.6])}
    assert ag.match_fraction(eager, relabelled)[0] == 0.5
    one_box_for_two = {1: _dets([[10, 10, 50, 50]], [1], [0.9])}
    twins = {1: _dets([[10, 10, 50, 50], [10, 10, 50, 51]], [1, 1], [0.9, 0.8])}
    assert ag.match_fraction(twins, one_box_for_two)[0] == 0.5  # one fast box matches one eager box
    assert ag.match_fraction(eager, {})[0] == 0.0


def test_verdict_needs_both_ap_and_matches():
    ok = ag.GuardResult(ap_eager=40.0, ap_fast=39.6, matched=0.995, eager_boxes=300, images=200)
    assert ok.passed and ok.line() == "dAP=-0.40, matched=99.5%, pass"
    assert not ag.GuardResult(40.0, 39.4, 0.999, 300, 200).passed  # AP off by 0.6 points
    assert not ag.GuardResult(40.0, 40.0, 0.985, 300, 200).passed  # too few matched
    assert not ag.GuardResult(40.0, 40.0, 0.0, 0, 200).passed  # a model that detects nothing proves nothing
    assert ag.GuardResult(40.0, 39.4, 0.985, 300, 200).line().endswith("fail")


@pytest.fixture(scope="module")
def detecting_model(tmp_path_factory):
    """A tiny ResNeXt with BatchNorm trained on 8 generated 96-px scenes until it detects their
    objects (>= 12 boxes at score >= 0.5), plus those scenes as the guard set. The model
    memorises its scenes: the guard compares fast vs eager on the same model, and a model that
    detects confidently is what it needs (the benchmark's guard model generalises)."""
    from rnxstudio.ml.zoo import build_model

    gset = ag.make_guard_set(8, 96, tmp_path_factory.mktemp("guard"), seed=5)
    names = [c["name"] for c in gset.gt["categories"]]
    label = {c["id"]: i + 1 for i, c in enumerate(gset.gt["categories"])}
    data = []
    for img_id, rgb in gset.images:
        anns = [a for a in gset.gt["annotations"] if a["image_id"] == img_id]
        t = {"boxes": torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                     a["bbox"][1] + a["bbox"][3]] for a in anns], dtype=torch.float32).reshape(-1, 4),
             "labels": torch.tensor([label[a["category_id"]] for a in anns], dtype=torch.int64)}
        data.append((torch.from_numpy(rgb).permute(2, 0, 1).float() / 255, t))
    torch.manual_seed(0)
    built = build_model("resnext_tiny_fpn", num_classes=len(names), class_names=names, min_size=96, max_size=96,
                        norm="bn", pretrained_backbone=False, allow_download=False)
    model = built.model
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    rng = np.random.default_rng(0)
    eager: dict = {}
    for step in range(1, 401):
        model.train()
        batch = [data[i] for i in rng.choice(len(data), 4, replace=False)]
        loss = sum(model([b[0] for b in batch], [b[1] for b in batch]).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0:
            model.eval()
            eager = ag.predict_all(Predictor(built, device="cpu", optimize="none"), gset)
            if ag.match_fraction(eager, eager)[1] >= 12:
                break
    model.eval()
    assert ag.match_fraction(eager, eager)[1] >= 12, "the tiny model did not learn to detect"
    return built, gset, eager


@pytest.mark.slow
def test_exact_fast_path_passes_and_a_broken_one_fails(detecting_model):
    built, gset, eager = detecting_model
    cat_ids = gset.category_ids_for(built.class_names)
    ap_eager = ag.coco_ap(gset.gt, eager, cat_ids)
    good = Predictor(built, device="cpu", optimize="fold+channels_last+sparse_roi")
    assert isinstance(good._runner.roi_heads.box_roi_pool, fast.SparseRoIAlign)
    result = ag.compare(gset.gt, cat_ids, eager, ag.predict_all(good, gset), ap_eager=ap_eager)
    assert result.passed, result.line()
    assert result.matched == 1.0 and abs(result.d_ap) < 0.05

    # the same path with a plausible bug: RoIAlign reads each level at a 15 % wrong scale
    broken = Predictor(built, device="cpu", optimize="fold+channels_last+sparse_roi")
    pool = broken._runner.roi_heads.box_roi_pool
    broken.predict([gset.images[0][1]])  # sets the pooler's scales
    pool.scales = [s * 1.15 for s in pool.scales]
    bad = ag.compare(gset.gt, cat_ids, eager, ag.predict_all(broken, gset), ap_eager=ap_eager)
    assert not bad.passed, bad.line()
