"""ml/heads.py: a new class list keeps the box-head rows of the classes the source model knows (by
name, or through a given mapping) and the background row; the others start from rows that cannot
fire on their own; a fine-tune from a checkpoint with an added class uses it."""

from __future__ import annotations

import pytest
import torch

from rnxstudio.ml import zoo
from rnxstudio.ml.heads import init_predictor_from, match_classes
from rnxstudio.ml.zoo import build_model


@pytest.fixture()
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
    new, report = init_predictor_from(coco_like, ["dog", "tree", "Person"], mapping=None)
    assert report.kept == {"dog": "dog", "Person": "person"} and report.new == ("tree",)
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


def test_a_mapping_shows_in_the_message(coco_like):
    _, report = init_predictor_from(coco_like, ["auto", "dog"], mapping={"auto": "car"})
    assert report.message() == "kept the box-head rows of auto (from car), dog"


def _tiny(names):
    return zoo.build_model("resnext_tiny_fpn", num_classes=len(names), class_names=names, min_size=64, max_size=96,
                           allow_download=False)


def test_rows_follow_the_names_and_new_classes_start_quiet():
    built = _tiny(["a", "b", "c"])
    old = built.model.roi_heads.box_predictor
    w, bias = old.cls_score.weight.detach().clone(), old.cls_score.bias.detach().clone()
    bw, bb = old.bbox_pred.weight.detach().clone(), old.bbox_pred.bias.detach().clone()
    torch.manual_seed(0)
    new_built, report = init_predictor_from(built, ["c", "new", "a"])
    new = new_built.model.roi_heads.box_predictor
    assert new is not old and new_built.class_names == ["c", "new", "a"]
    assert new_built.build_kwargs["num_classes"] == 3 and new_built.build_kwargs["class_names"] == ["c", "new", "a"]
    assert report.kept == {"c": "c", "a": "a"} and report.new == ("new",)
    assert "kept the box-head rows of c, a" in report.message() and "new rows for new" in report.message()
    cw, cb = new.cls_score.weight.detach(), new.cls_score.bias.detach()
    nbw, nbb = new.bbox_pred.weight.detach(), new.bbox_pred.bias.detach()
    for new_label, old_label in ((0, 0), (1, 3), (3, 1)):  # background, c, a
        assert torch.equal(cw[new_label], w[old_label]) and torch.equal(cb[new_label], bias[old_label])
        assert torch.equal(nbw[4 * new_label:4 * new_label + 4], bw[4 * old_label:4 * old_label + 4])
        assert torch.equal(nbb[4 * new_label:4 * new_label + 4], bb[4 * old_label:4 * old_label + 4])
    # the new class: small weights, the known classes' mean bias, their mean box regression
    assert float(cw[2].abs().max()) < 0.1
    assert float(cb[2]) == pytest.approx(float(bias[1:].mean()))
    torch.testing.assert_close(nbw[8:12], bw[4:].reshape(3, 4, -1).mean(0))
    assert all(p.requires_grad for p in new.parameters())


def test_bad_class_lists_are_refused():
    built = _tiny(["a"])
    with pytest.raises(ValueError, match="at least one"):
        init_predictor_from(built, [])
    with pytest.raises(ValueError, match="duplicate"):
        init_predictor_from(built, ["a", "a"])


def test_finetune_from_a_checkpoint_with_an_added_class_keeps_the_known_rows(tmp_path):
    """Training data with one class more than the checkpoint: the known classes' rows are the
    checkpoint's at the start (a run at learning rate ~0 leaves them there)."""
    from rnxstudio.data.demo import make_shapes_dataset
    from rnxstudio.ml.checkpoint import load_checkpoint, save_checkpoint
    from rnxstudio.ml.train import TrainConfig, finetune

    source = _tiny(["circle", "square"])
    ckpt = save_checkpoint(tmp_path / "src.safetensors", source)
    make_shapes_dataset(4, 64, seed=3, out_dir=tmp_path / "data", max_objects=3, classes=("square", "circle", "cross"))
    cfg = TrainConfig(out_dir=tmp_path / "run", coco=tmp_path / "data" / "annotations.json", model=str(ckpt),
                      batch_size=2, size=64, max_size=96, optimizer="adamw", lr=1e-12, weight_decay=0.0,
                      scale_jitter=False, hflip=0.0, photometric=0.0, max_steps=1, val_split=0.0)
    records = list(finetune(cfg))
    assert "kept the box-head rows of square, circle; new rows for cross" in records[0].message
    out = load_checkpoint(records[-1].checkpoint)
    assert out.class_names == ["square", "circle", "cross"]
    src = source.model.roi_heads.box_predictor.cls_score.weight.detach()
    got = out.model.roi_heads.box_predictor.cls_score.weight.detach()
    torch.testing.assert_close(got[1], src[2], atol=1e-6, rtol=0)  # square
    torch.testing.assert_close(got[2], src[1], atol=1e-6, rtol=0)  # circle
    assert out.info["parent"] == str(ckpt)
