"""The optimised inference path: plans, exact conv+norm folding, optimised == eager detections."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from rnxstudio.ml import fast, zoo
from rnxstudio.ml.predict import Predictor


def _randomise_norms(model: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (FrozenBatchNorm2d, nn.BatchNorm2d)):
            c = m.weight.numel()
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)


def test_plans():
    assert fast.plan_for("cpu", "none").is_eager
    cpu = fast.plan_for("cpu", "auto")
    assert cpu.fold and cpu.channels_last and cpu.amp_dtype is None
    assert fast.plan_for("cuda", "auto").amp_dtype is torch.float16
    p = fast.plan_for("cpu", "fold+jit+bf16")
    assert (p.fold, p.channels_last, p.backbone, p.amp_dtype) == (True, False, "jit", torch.bfloat16)
    assert p.describe() == "fold+jit+bf16"
    for bad in ("turbo", "jit+compile", "bf16+fp16"):
        with pytest.raises(ValueError):
            fast.plan_for("cpu", bad)


@pytest.mark.parametrize("norm_cls", [FrozenBatchNorm2d, nn.BatchNorm2d])
def test_fold_is_exact_and_counts_pairs(norm_cls):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1, bias=False), norm_cls(8)
            self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=True), norm_cls(8)
            self.down = nn.Sequential(nn.Conv2d(3, 8, 1, bias=False), norm_cls(8))
            self.gn_conv, self.gn = nn.Conv2d(8, 8, 1), nn.GroupNorm(2, 8)  # never folded

        def forward(self, x):
            y = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))
            return self.gn(self.gn_conv(y + self.down(x)))

    torch.manual_seed(0)
    m = Block().eval()
    _randomise_norms(m)
    x = torch.randn(2, 3, 17, 23)
    ref = m(x)
    assert fast.fold_conv_norm(m) == 3
    assert isinstance(m.bn1, nn.Identity) and isinstance(m.down[1], nn.Identity)
    assert isinstance(m.gn, nn.GroupNorm)
    torch.testing.assert_close(m(x), ref, atol=1e-5, rtol=1e-5)


def test_train_mode_batchnorm_is_not_folded():
    seq = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)).train()
    assert fast.fold_conv_norm(seq) == 0


@pytest.fixture(scope="module")
def frozen_bn_model() -> zoo.BuiltModel:
    """A tiny ResNeXt with frozen BN (the pretrained-weights layout) and non-trivial statistics."""
    torch.manual_seed(0)
    built = zoo.build_model("resnext_tiny_fpn", num_classes=3, min_size=96, max_size=128, norm="frozen_bn",
                            score_thresh=0.0, pretrained_backbone=False, allow_download=False)
    _randomise_norms(built.model, 1)
    return built


@pytest.mark.parametrize("mode", ["fold", "channels_last", "fold+channels_last", "auto", "fold+jit"])
def test_optimised_model_matches_eager(frozen_bn_model, mode):
    model = frozen_bn_model.model.eval()
    imgs = [torch.rand(3, 90, 120, generator=torch.Generator().manual_seed(3)),
            torch.rand(3, 120, 77, generator=torch.Generator().manual_seed(4))]
    opt, plan = fast.optimize(model, "cpu", mode)
    assert opt is not model and not any(p.requires_grad for p in opt.parameters())
    with torch.inference_mode():
        ref = model(imgs)
        got = opt(imgs)
        ref2 = model([imgs[1]])
        got2 = opt([imgs[1]])  # a second input size after the first call (a jit trace is reused)
    for r, g in zip(ref, got):
        assert len(g["boxes"]) == len(r["boxes"]) > 0
        torch.testing.assert_close(g["boxes"], r["boxes"], atol=1e-2, rtol=1e-3)
        torch.testing.assert_close(g["scores"], r["scores"], atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(got2[0]["boxes"], ref2[0]["boxes"], atol=1e-2, rtol=1e-3)
    # the caller's model is untouched
    assert isinstance(model.backbone.body.bn1, FrozenBatchNorm2d)


def test_predictor_prepared_path_maps_boxes_to_original_pixels(frozen_bn_model):
    rng = np.random.default_rng(0)
    ims = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in ((150, 200), (64, 160), (300, 120))]
    eager = Predictor(frozen_bn_model, device="cpu", optimize="none")
    opt = Predictor(frozen_bn_model, device="cpu", optimize="auto")
    assert opt.presized and not eager.presized
    ref = eager.predict(ims)
    via_prepare = opt.predict_prepared([opt.prepare(im) for im in ims])
    for r, g, im in zip(ref, via_prepare, ims):
        assert g.image_size == (im.shape[1], im.shape[0])
        # OpenCV and torch bilinear resizes differ by rounding only, so each of eager's most
        # confident boxes has a counterpart within a pixel or so. (Near-tied scores of this
        # untrained model may reorder, so match by position rather than comparing top-k sets.)
        assert len(g) > 0
        for box in r.boxes[np.argsort(-r.scores)[:3]]:
            nearest = np.abs(g.boxes - box).max(axis=1).min()
            assert nearest <= 2.0, (box, nearest)
