"""ml/predictor_rows.py: a new class list keeps the box-head rows of the classes the source model
knows (by name), starts the others from rows that cannot fire on their own, and a fine-tune from
a checkpoint with an added class uses it."""

from __future__ import annotations

import pytest
import torch

from rnxstudio.ml import zoo
from rnxstudio.ml.predictor_rows import carry_predictor_rows


def _tiny(names):
    return zoo.build_model("resnext_tiny_fpn", num_classes=len(names), class_names=names, min_size=64, max_size=96,
                           allow_download=False)


def test_rows_follow_the_names_and_new_classes_start_quiet():
    built = _tiny(["a", "b", "c"])
    old = built.model.roi_heads.box_predictor
    w, bias = old.cls_score.weight.detach().clone(), old.cls_score.bias.detach().clone()
    bw, bb = old.bbox_pred.weight.detach().clone(), old.bbox_pred.bias.detach().clone()
    torch.manual_seed(0)
    new_built, report = carry_predictor_rows(built, ["c", "new", "a"])
    new = new_built.model.roi_heads.box_predictor
    assert new is not old and new_built.class_names == ["c", "new", "a"]
    assert new_built.build_kwargs["num_classes"] == 3 and new_built.build_kwargs["class_names"] == ["c", "new", "a"]
    assert report.kept == ("c", "a") and report.new == ("new",)
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
        carry_predictor_rows(built, [])
    with pytest.raises(ValueError, match="duplicate"):
        carry_predictor_rows(built, ["a", "a"])


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
