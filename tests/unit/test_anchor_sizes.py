"""build_model(anchor_sizes=...): defaults per model, validation, and checkpoint round trips."""

from __future__ import annotations

import json

import pytest

from rnxstudio.ml import zoo
from rnxstudio.ml.checkpoint import load_checkpoint, save_checkpoint, sidecar_path


def _sizes(built: zoo.BuiltModel) -> tuple[int, ...]:
    return tuple(s[0] for s in built.model.rpn.anchor_generator.sizes)


def test_tiny_default_anchors_are_smaller_and_recorded():
    built = zoo.build_model("resnext_tiny_fpn", num_classes=2, pretrained_backbone=False)
    assert _sizes(built) == zoo.TINY_ANCHOR_SIZES
    assert built.build_kwargs["anchor_sizes"] == list(zoo.TINY_ANCHOR_SIZES)


def test_large_models_keep_torchvision_anchors():
    assert zoo.MODELS["resnext50_32x4d_fpn"].default_anchor_sizes == (32, 64, 128, 256, 512)
    assert zoo.MODELS["resnext50_32x4d_c4"].default_anchor_sizes == (32, 64, 128, 256, 512)


def test_custom_anchors_and_validation():
    built = zoo.build_model("resnext_tiny_fpn", num_classes=2, pretrained_backbone=False,
                            anchor_sizes=[8, 16, 32, 64, 128])
    assert _sizes(built) == (8, 16, 32, 64, 128)
    with pytest.raises(ValueError, match="one size per FPN level"):
        zoo.build_model("resnext_tiny_fpn", num_classes=2, pretrained_backbone=False, anchor_sizes=[16, 32])
    with pytest.raises(ValueError, match="positive integers"):
        zoo.build_model("resnext_tiny_fpn", num_classes=2, pretrained_backbone=False, anchor_sizes=[0, 1, 2, 3, 4])


def test_checkpoint_keeps_anchor_sizes(tmp_path):
    built = zoo.build_model("resnext_tiny_fpn", num_classes=2, class_names=["a", "b"], pretrained_backbone=False,
                            anchor_sizes=(12, 24, 48, 96, 192))
    p = save_checkpoint(tmp_path / "m.safetensors", built)
    loaded = load_checkpoint(p)
    assert _sizes(loaded) == (12, 24, 48, 96, 192)


def test_old_sidecar_without_anchor_sizes_gets_torchvision_anchors(tmp_path):
    built = zoo.build_model("resnext_tiny_fpn", num_classes=2, class_names=["a", "b"], pretrained_backbone=False,
                            anchor_sizes=zoo.LEGACY_ANCHOR_SIZES)
    p = save_checkpoint(tmp_path / "m.safetensors", built)
    side = sidecar_path(p)
    meta = json.loads(side.read_text())
    del meta["build_kwargs"]["anchor_sizes"]
    side.write_text(json.dumps(meta))
    assert _sizes(load_checkpoint(p)) == zoo.LEGACY_ANCHOR_SIZES
