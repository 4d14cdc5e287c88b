"""ml/heads.py: fine-tuning from a trained detector keeps the rows of classes that match by name
(or by a given mapping) and the background row; other classes start fresh."""

from __future__ import annotations

import pytest
import torch

from rnxstudio.ml.heads import init_predictor_from, match_classes
from rnxstudio.ml.zoo import build_model


@pytest.fixture(scope="module")
def coco_like():
    torch.manual_seed(0)
    built = build_model("resnext_tiny_fpn", num_classes=4, class_names=["person", "car", "traffic light", "dog"],
                        pretrained_backbone=False)
    with torch.no_grad():  # distinctive rows: row r of every tensor holds r
        pred = built.model.roi_heads.box_predictor
        for t in (pred.cls_score.weight, pred.bbox_pred.weight):
            rows = t.shape[0]
            t.copy_(torch.arange(rows, dtype=t.dtype).view(rows, 1).expand_as(t))
        pred.cls_score.bias.copy_(torch.arange(5.0))
        pred.bbox_pred.bias.copy_(torch.arange(20.0))
    return built


def test_matching_names_and_mapping():
    old = ["person", "car", "traffic light", "dog"]
    assert match_classes(["Car", "Traffic_Light", "tree"], old) == {0: 1, 1: 2}
    assert match_classes(["auto", "dog"], old, mapping={"Auto": "car"}) == {0: 1, 1: 3}
    with pytest.raises(ValueError, match="no class 'unicorn'"):
        match_classes(["x"], old, mapping={"x": "unicorn"})


def test_matching_rows_copied_background_kept_rest_fresh(coco_like):
    new, kept = init_predictor_from(coco_like, ["dog", "tree", "Person"], mapping=None)
    assert kept == {"dog": "dog", "Person": "person"}
    assert new.class_names == ["dog", "tree", "Person"] and new.num_classes == 3
    p = new.model.roi_heads.box_predictor
    assert p.cls_score.weight.shape == (4, coco_like.model.roi_heads.box_predictor.cls_score.in_features)
    # label 0 background <- old 0; label 1 dog <- old label 4; label 3 Person <- old label 1
    for new_label, old_label in ((0, 0), (1, 4), (3, 1)):
        assert torch.all(p.cls_score.weight[new_label] == old_label)
        assert p.cls_score.bias[new_label] == old_label
        assert p.bbox_pred.bias[4 * new_label:4 * new_label + 4].tolist() == list(range(4 * old_label, 4 * old_label + 4))
        assert torch.all(p.bbox_pred.weight[4 * new_label:4 * new_label + 4].T == torch.arange(4 * old_label, 4 * old_label + 4))
    tree = p.cls_score.weight[2]
    assert not any(torch.allclose(tree, torch.full_like(tree, float(r))) for r in range(5))  # fresh init
