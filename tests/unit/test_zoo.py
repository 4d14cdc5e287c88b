"""Zoo: every member builds and runs; norms follow weights; the C4 variant is built correctly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.ops.misc import FrozenBatchNorm2d

from rnxstudio.ml import zoo
from rnxstudio.ml.tensors import image_to_tensor

SMALL = dict(min_size=96, max_size=128, allow_download=False)
FAST_MEMBERS = ["resnext50_32x4d_fpn", "resnet50_fpn", "resnext_tiny_fpn"]  # C4: its own test below
SLOW_MEMBERS = ["resnext101_32x8d_fpn", "resnext101_64x4d_fpn"]


def _forward(built: zoo.BuiltModel, h: int = 100, w: int = 128) -> dict:
    built.model.eval()
    with torch.inference_mode():
        return built.model([torch.rand(3, h, w)])[0]


def test_registry_has_the_issue_members():
    assert set(FAST_MEMBERS + SLOW_MEMBERS + ["resnext50_32x4d_c4", "demo"]) == set(zoo.MODELS)
    assert zoo.DEFAULT_MODEL == "resnext50_32x4d_fpn"
    tiny = zoo.MODELS["resnext_tiny_fpn"]
    assert tiny.is_tiny and "tiny" in tiny.title and "tests" in tiny.title
    assert "103 M" in zoo.MODELS["resnext50_32x4d_c4"].description
    assert not zoo.MODELS["resnext50_32x4d_c4"].fpn


@pytest.mark.parametrize("name", FAST_MEMBERS)
def test_member_builds_and_runs(name):
    built = zoo.build_model(name, num_classes=3, class_names=["a", "b", "c"], **SMALL)
    assert isinstance(built.model, FasterRCNN)
    out = _forward(built)
    assert out["boxes"].shape[1] == 4 and out["boxes"].shape[0] == out["scores"].shape[0]
    assert built.model.roi_heads.box_predictor.cls_score.out_features == 4  # 3 + background
    assert built.class_names == ["a", "b", "c"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_MEMBERS)
def test_large_member_builds_and_runs(name):
    built = zoo.build_model(name, num_classes=2, **SMALL)
    out = _forward(built, 64, 80)
    assert out["boxes"].shape[1] == 4


def test_random_init_uses_groupnorm_never_frozen_bn():
    built = zoo.build_model("resnext_tiny_fpn", num_classes=2, **SMALL)
    assert built.norm == "gn" and built.weights_origin == "random"
    mods = list(built.model.backbone.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in mods)
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in mods)


def test_pretrained_weights_file_gives_frozen_bn(tmp_path):
    """A user-supplied ImageNet-style file is loaded and switches the norm to FrozenBatchNorm."""
    from torchvision.models import resnet50

    ref = resnet50(weights=None)
    with torch.no_grad():
        ref.conv1.weight.fill_(0.125)
    path = tmp_path / "r50.pth"
    torch.save(ref.state_dict(), path)
    built = zoo.build_model("resnet50_fpn", num_classes=2, backbone_weights_path=str(path), **SMALL)
    assert built.weights_origin == "pretrained-backbone" and built.norm == "frozen_bn"
    body = built.model.backbone.body
    assert torch.all(body.conv1.weight == 0.125)
    assert isinstance(body.bn1, FrozenBatchNorm2d)
    # pretrained default: only the last 3 stages train
    assert not body.conv1.weight.requires_grad and not body.layer1[0].conv1.weight.requires_grad
    assert body.layer2[0].conv1.weight.requires_grad


def test_wrong_backbone_file_is_refused(tmp_path):
    from torchvision.models import resnet50

    path = tmp_path / "r50.pth"
    torch.save(resnet50(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="different architecture"):
        zoo.build_model("resnext50_32x4d_fpn", num_classes=2, backbone_weights_path=str(path), **SMALL)


def test_bad_arguments():
    with pytest.raises(KeyError, match="unknown model"):
        zoo.build_model("nope", num_classes=1)
    with pytest.raises(ValueError, match="class names"):
        zoo.build_model("resnext_tiny_fpn", num_classes=2, class_names=["a"], **SMALL)
    with pytest.raises(ValueError, match="norm"):
        zoo.build_model("resnext_tiny_fpn", num_classes=2, norm="layer", **SMALL)


def test_trainable_layers_freeze_stages():
    built = zoo.build_model("resnext_tiny_fpn", num_classes=2, trainable_layers=1, **SMALL)
    body = built.model.backbone.body
    assert all(p.requires_grad for p in body.layer4.parameters())
    assert not any(p.requires_grad for p in body.layer3.parameters())
    assert not body.conv1.weight.requires_grad


def test_replace_predictor_keeps_backbone():
    built = zoo.build_model("resnext_tiny_fpn", num_classes=2, **SMALL)
    backbone_before = {k: v.clone() for k, v in built.model.backbone.state_dict().items()}
    new = zoo.replace_predictor(built, ["x", "y", "z", "w"])
    assert new.class_names == ["x", "y", "z", "w"]
    assert new.build_kwargs["num_classes"] == 4
    assert new.model.roi_heads.box_predictor.cls_score.out_features == 5
    assert new.model.roi_heads.box_predictor.bbox_pred.out_features == 20
    for k, v in new.model.backbone.state_dict().items():
        assert torch.equal(v, backbone_before[k])
    _forward(new)


def test_tensor_conversion():
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[1, 2] = (255, 0, 51)
    t = image_to_tensor(rgb)
    assert t.shape == (3, 5, 7) and t.dtype == torch.float32
    assert t[0, 1, 2] == 1.0 and t[1, 1, 2] == 0.0 and abs(float(t[2, 1, 2]) - 0.2) < 1e-6
    with pytest.raises(ValueError, match="H x W x 3"):
        image_to_tensor(np.zeros((5, 7), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        image_to_tensor(np.zeros((5, 7, 3), np.float32))


# --------------------------------------------------------------------------- C4: naive vs ours


@pytest.fixture(scope="module")
def naive_c4_trunk() -> nn.Module:
    """What the seed article's snippet does: chop the classifier off a ResNeXt and hand it over."""
    from torchvision.models import resnext50_32x4d

    net = resnext50_32x4d(weights=None)
    return nn.Sequential(*list(net.children())[:-2])


def test_naive_c4_without_out_channels_fails(naive_c4_trunk):
    assert not hasattr(naive_c4_trunk, "out_channels")
    with pytest.raises(ValueError, match="out_channels"):
        FasterRCNN(naive_c4_trunk, num_classes=3)


def test_naive_c4_with_default_multilevel_anchors_fails(naive_c4_trunk):
    """out_channels set, but FasterRCNN's default 5-level (FPN) anchor generator on one map."""
    from torchvision.ops import MultiScaleRoIAlign

    backbone = nn.Sequential(*naive_c4_trunk)  # same layers; leave the shared fixture untouched
    backbone.out_channels = 2048
    model = FasterRCNN(backbone, num_classes=3, box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2),
                       min_size=64, max_size=96)
    assert len(model.rpn.anchor_generator.sizes) == 5
    model.eval()
    with pytest.raises((ValueError, RuntimeError, AssertionError), match="[Aa]nchors|feature map|sizes"):
        with torch.inference_mode():
            model([torch.rand(3, 64, 80)])


def test_our_c4_builds_runs_with_one_level_anchors_and_one_map_roi_pool():
    built = zoo.build_model("resnext50_32x4d_c4", num_classes=3, class_names=["a", "b", "c"], **SMALL)
    assert built.model.roi_heads.box_predictor.cls_score.out_features == 4
    m = built.model
    assert m.backbone.out_channels == 2048
    assert len(m.rpn.anchor_generator.sizes) == 1 and len(m.rpn.anchor_generator.sizes[0]) == 5
    assert m.rpn.anchor_generator.num_anchors_per_location() == [15]
    assert m.roi_heads.box_roi_pool.featmap_names == ["0"]
    fc6 = m.roi_heads.box_head.fc6
    assert fc6.in_features == 2048 * 7 * 7 and fc6.out_features == 1024
    assert abs(fc6.weight.numel() - 103e6) < 1e6
    out = _forward(built, 64, 96)
    assert isinstance(out, dict) and "boxes" in out
    # the backbone returns a single map (FasterRCNN wraps a Tensor into {"0": ...})
    feats = m.backbone(torch.rand(1, 3, 64, 64))
    assert isinstance(feats, torch.Tensor) and feats.shape[1] == 2048
