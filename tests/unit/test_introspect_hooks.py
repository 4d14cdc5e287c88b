"""Feature capture: every stage with the right shape and stride, no hook leaks, same outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign

from rnxstudio.data.demo import make_scene
from rnxstudio.ml.backbones import C4Trunk
from rnxstudio.ml.introspect.hooks import FeatureCapture, inspect_image
from rnxstudio.ml.introspect.stages import trunk_stages
from rnxstudio.ml.zoo import build_model

TINY_CH = {"stem": 32, "res2": 64, "res3": 128, "res4": 256, "res5": 512}
STRIDES = {"stem": 4, "res2": 4, "res3": 8, "res4": 16, "res5": 32, "P2": 4, "P3": 8, "P4": 16, "P5": 32, "P6": 64}


def hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    built = build_model("resnext_tiny_fpn", num_classes=5, pretrained_backbone=False, min_size=96, max_size=160)
    built.model.eval()
    return built


@pytest.fixture(scope="module")
def c4_model():
    """Same structure as the zoo's one-map model (C4Trunk + one-level anchors + RoIAlign on "0"),
    on a ResNet-18 trunk so it stays cheap."""
    torch.manual_seed(0)
    trunk = C4Trunk(torchvision.models.resnet18(weights=None))
    anchors = AnchorGenerator(sizes=((32, 64, 128),), aspect_ratios=((0.5, 1.0, 2.0),))
    model = FasterRCNN(trunk, num_classes=4, min_size=96, max_size=128, rpn_anchor_generator=anchors,
                       box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2))
    return model.eval()


def scene(h: int, w: int, seed: int = 1) -> np.ndarray:
    rgb, _ = make_scene(np.random.default_rng(seed), w, h, 2)
    return rgb


@pytest.mark.parametrize("hw", [(96, 128), (120, 90), (100, 150)])
def test_fpn_stages_shapes_and_strides(tiny, hw):
    res = inspect_image(tiny, scene(*hw), device="cpu")
    names = ["stem", "res2", "res3", "res4", "res5", "P2", "P3", "P4", "P5", "P6",
             "rpn/P2", "rpn/P3", "rpn/P4", "rpn/P5", "rpn/P6"]
    assert list(res.features) == names
    bh, bw = res.batch_size
    assert bh % 32 == 0 and bw % 32 == 0
    assert res.image_size[0] <= bh and res.image_size[1] <= bw
    assert res.scale == pytest.approx((res.image_size[0] / hw[0], res.image_size[1] / hw[1]))
    for name, fm in res.features.items():
        level = name.split("/")[-1]
        s = STRIDES[level]
        assert fm.stride == (s, s), name
        c, h, w = fm.shape
        assert (h, w) == (math.ceil(bh / s), math.ceil(bw / s)), name
        assert fm.data.dtype == np.float32 and fm.data.flags.c_contiguous
        assert np.isfinite(fm.data).all()
        if name in TINY_CH:
            assert c == TINY_CH[name]
        elif name.startswith("P"):
            assert c == 64
        else:
            assert c == 3 and fm.kind == "rpn"
            assert fm.data.min() >= 0 and fm.data.max() <= 1  # sigmoid objectness


def test_c4_model_stages(c4_model):
    res = inspect_image(c4_model, scene(96, 128), device="cpu")
    assert list(res.features) == ["stem", "res2", "res3", "res4", "res5", "rpn/C5"]
    assert res.features["res5"].shape[0] == 512
    assert res.features["rpn/C5"].shape[0] == 9  # 3 sizes x 3 ratios
    assert res.features["rpn/C5"].stride == (32, 32)
    assert hook_count(c4_model) == 0


def test_trunk_stage_discovery_on_both_layouts(tiny, c4_model):
    assert list(trunk_stages(tiny.model)) == ["stem", "res2", "res3", "res4", "res5"]
    st = trunk_stages(c4_model)
    assert isinstance(st["stem"], torch.nn.MaxPool2d)
    assert st["res5"] is c4_model.backbone[7]


def test_hooks_removed_and_outputs_unchanged(tiny):
    model = tiny.model
    before = hook_count(model)
    x = torch.from_numpy(scene(96, 128)).permute(2, 0, 1).float() / 255
    with torch.inference_mode():
        plain = model([x])[0]
        cap = FeatureCapture(tiny)
        assert hook_count(model) > before
        hooked = model([x])[0]
        cap.remove()
        cap.remove()  # idempotent
        again = model([x])[0]
    assert hook_count(model) == before == 0
    for k in ("boxes", "scores", "labels"):
        assert torch.equal(plain[k], hooked[k])
        assert torch.equal(plain[k], again[k])
    assert len(cap.features()) == 15  # captured maps survive removal


def test_context_manager_removes_hooks_on_error(tiny):
    with pytest.raises(RuntimeError, match="boom"):
        with FeatureCapture(tiny):
            raise RuntimeError("boom")
    assert hook_count(tiny.model) == 0


def test_stage_filter_and_no_forward_yet(tiny):
    cap = FeatureCapture(tiny, stages={"res3", "P4", "rpn/P4"})
    try:
        with pytest.raises(RuntimeError, match="no forward"):
            cap.features()
        x = torch.rand(3, 80, 100)
        with torch.inference_mode():
            tiny.model([x])
        assert list(cap.features()) == ["res3", "P4", "rpn/P4"]
        assert cap.level_names() == {"0": "P2", "1": "P3", "2": "P4", "3": "P5", "pool": "P6"}
    finally:
        cap.remove()


def test_inspect_image_detections_in_original_pixels_and_mode_restored(tiny):
    tiny.model.train()
    try:
        rgb = scene(90, 140)
        res = inspect_image(tiny, rgb)
        assert tiny.model.training
    finally:
        tiny.model.eval()
    d = res.detections
    assert d.boxes.shape == (len(d), 4) and d.scores.shape == (len(d),) and d.labels.shape == (len(d),)
    if len(d):
        assert d.boxes[:, [0, 2]].max() <= 140 + 1e-3 and d.boxes[:, [1, 3]].max() <= 90 + 1e-3
    assert d.class_names == tiny.class_names
    assert res.original_size == (90, 140)


def test_inspect_image_rejects_bad_input(tiny):
    with pytest.raises(ValueError, match="RGB"):
        inspect_image(tiny, np.zeros((10, 10), np.uint8))
    with pytest.raises(TypeError):
        inspect_image(object(), np.zeros((10, 10, 3), np.uint8))


def test_capture_predict_uses_the_same_forward(tiny):
    from rnxstudio.ml.introspect.hooks import capture_predict
    from rnxstudio.ml.predict import Predictor

    predictor = Predictor(tiny, device="cpu", optimize="none")
    calls = []
    handle = tiny.model.backbone.register_forward_hook(lambda *_: calls.append(1))
    try:
        rgb = scene(96, 128)
        det, res = capture_predict(predictor, rgb)
    finally:
        handle.remove()
    assert len(calls) == 1  # one forward: inference and capture together
    assert "res5" in res.features and "P2" in res.features
    np.testing.assert_array_equal(res.detections.boxes, det.boxes)
    assert res.detections.class_names == tiny.class_names
    assert hook_count(tiny.model) == 0
