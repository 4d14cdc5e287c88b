"""The optimised inference path: plans, exact conv+norm folding, optimised == eager detections."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.misc import FrozenBatchNorm2d

from rnxstudio.ml import fast, precision, zoo
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
    cpu = fast.plan_for("cpu", "auto")  # bf16 or fp32, torch or OpenVINO: depends on this machine
    assert cpu.fold and cpu.sparse_roi and not cpu.is_eager
    if not precision.cpu_info().native_bf16:
        assert cpu.precision == "fp32"
    assert fast.plan_for("cpu", "auto", precision="fp32", backend="torch") == \
        fast.Plan(fold=True, channels_last=True, sparse_roi=True, cpu=True)
    assert fast.plan_for("cuda", "auto").amp_dtype is torch.float16
    p = fast.plan_for("cpu", "fold+jit+bf16")
    assert (p.fold, p.channels_last, p.backbone, p.amp_dtype) == (True, False, "jit", torch.bfloat16)
    assert p.describe() == "fold+jit+bf16"
    assert fast.plan_for("cpu", "openvino").fold  # the backbone is folded before conversion
    for bad in ("turbo", "jit+compile", "openvino+jit", "bf16+fp16"):
        with pytest.raises(ValueError):
            fast.plan_for("cpu", bad)
    with pytest.raises(ValueError, match="CPU only"):
        fast.plan_for("cuda", "fold+sparse_roi")
    assert fast.plan_for("cpu", "fold+channels_last+bf16+fp32_stem").fp32_stem
    for bad in ("fold+fp32_stem", "openvino+bf16+fp32_stem", "jit+bf16+fp32_stem"):  # nothing to keep fp32
        with pytest.raises(ValueError, match="fp32_stem"):
            fast.plan_for("cpu", bad)
    with pytest.raises(ValueError, match="fp32_stem"):
        fast.plan_for("cuda", "fold+fp16+fp32_stem")


@pytest.mark.parametrize("levels,aligned,ratio", [(1, False, 2), (4, False, 2), (4, True, 0)])
def test_sparse_roi_align_equals_torchvision(levels, aligned, ratio):
    """The inference RoIAlign (sparse x channels-last pixels) gives torchvision's numbers, in
    torchvision's convention and in detectron2's / mmcv's (aligned, adaptive sampling), which
    converted COCO models use: replacing their pooler must not change their convention."""
    from rnxstudio.ml.roi_pool import PooledRoIAlign

    g = torch.Generator().manual_seed(0)
    names = [str(i) for i in range(levels)]
    feats = {n: torch.randn(2, 8, 64 >> i, 48 >> i, generator=g).contiguous(memory_format=torch.channels_last)
             for i, n in enumerate(names)}
    xy = torch.rand(40, 2, generator=g) * 150
    boxes = torch.cat([xy, xy + torch.rand(40, 2, generator=g) * 90 + 1], 1)
    boxes = [boxes[:25], boxes[25:]]
    shapes = [(256, 192), (250, 190)]
    ref_pool = PooledRoIAlign(names, 7, ratio, aligned=True) if aligned else MultiScaleRoIAlign(names, 7, ratio)
    ours = fast.SparseRoIAlign.from_pooler(ref_pool)
    with torch.inference_mode():
        ref = ref_pool(feats, boxes, shapes)
        got = ours(feats, boxes, shapes)
        got_bf16 = ours({k: v.bfloat16() for k, v in feats.items()}, boxes, shapes)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_bf16, ref, atol=0.05, rtol=0.02)
    empty = ours(feats, [b[:0] for b in boxes], shapes)
    assert empty.shape == (0, 8, 7, 7)
    # with autograd on (training) it keeps torchvision's path and its backward
    with torch.enable_grad():
        x = {k: v.clone().requires_grad_() for k, v in feats.items()}
        ours(x, boxes, shapes).sum().backward()
    # (levels that no RoI maps to get no gradient from PooledRoIAlign's sparse path; that is fine)
    assert any(v.grad is not None and v.grad.abs().sum() > 0 for v in x.values())


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


@pytest.mark.parametrize("mode", ["fold", "channels_last", "fold+channels_last", "fold+channels_last+sparse_roi",
                                  "fold+jit"])
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
    opt = Predictor(frozen_bn_model, device="cpu", optimize="fold+channels_last+sparse_roi")
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


def test_uint8_prepared_images_give_the_float_results(frozen_bn_model):
    """The GPU feed (uint8 tensors, scaled on the device) tested on the CPU: same detections."""
    from rnxstudio.ml.prefetch import prepare_image

    rng = np.random.default_rng(1)
    im = rng.integers(0, 255, (150, 200, 3), dtype=np.uint8)
    pred = Predictor(frozen_bn_model, device="cpu", optimize="fold+channels_last+sparse_roi")
    t = frozen_bn_model.model.transform
    as_float = prepare_image(im, int(t.min_size[-1]), int(t.max_size))
    as_uint8 = prepare_image(im, int(t.min_size[-1]), int(t.max_size), keep_uint8=True)
    assert as_uint8.tensor.dtype == torch.uint8 and as_float.tensor.dtype == torch.float32
    assert pred.prepare(im).tensor.dtype == torch.float32  # the CPU keeps float (no pinning)
    a, b = pred.predict_prepared([as_float])[0], pred.predict_prepared([as_uint8])[0]
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)


def test_predictor_says_which_path_runs(frozen_bn_model):
    eager = Predictor(frozen_bn_model, device="cpu", optimize="none")
    assert eager.path_name == "eager fp32" and eager.choice is None
    fp32 = Predictor(frozen_bn_model, device="cpu", precision="fp32", backend="torch")
    assert fp32.path_name == "torch fp32" and "fp32 as asked" in fp32.describe()
    rec = fp32.run_record()
    assert rec["inference_path"] == "torch fp32" and rec["optimisations"] == "fold+channels_last+sparse_roi"
    auto = Predictor(frozen_bn_model, device="cpu")
    assert auto.path_name == auto.choice.name and auto.choice.reason in auto.describe()
    with pytest.raises(ValueError):
        Predictor(frozen_bn_model, device="cpu", precision="fp8")


def test_fp32_stem_keeps_the_stem_exact_and_the_rest_reduced(frozen_bn_model):
    """bf16 with ``fp32_stem``: the stem's (folded) weights and its output are the fp32 path's,
    everything after it is bf16, and the maps come back fp32 within bf16 rounding of eager."""
    model = frozen_bn_model.model.eval()
    fp32, _ = fast.optimize(model, "cpu", "fold+channels_last+sparse_roi")
    mixed, plan = fast.optimize(model, "cpu", "fold+channels_last+bf16+fp32_stem+sparse_roi")
    assert plan.describe().endswith("bf16+fp32_stem") and not plan.autocast
    ref_body = fp32.backbone.inner.body
    body = mixed.backbone.inner.inner.body
    assert body.conv1.weight.dtype == torch.float32
    assert torch.equal(body.conv1.weight, ref_body.conv1.weight) and torch.equal(body.conv1.bias, ref_body.conv1.bias)
    assert all(p.dtype == torch.bfloat16 for p in body.layer1.parameters())
    assert all(p.dtype == torch.bfloat16 for p in mixed.backbone.inner.inner.fpn.parameters())
    x = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        stem = body.maxpool(body.relu(body.bn1(body.conv1(x))))
        ref_stem = ref_body.maxpool(ref_body.relu(ref_body.bn1(ref_body.conv1(x))))
        assert stem.dtype == torch.bfloat16
        torch.testing.assert_close(stem, ref_stem.bfloat16(), atol=0, rtol=0)  # fp32 math, one rounding
        got, ref = mixed.backbone(x), model.backbone(x)
    for k in ref:
        assert got[k].dtype == torch.float32
        assert (got[k] - ref[k]).abs().max() <= 0.03 * ref[k].abs().max()


def test_fp32_stem_finds_a_c4_trunk_stem_and_warns_without_one():
    trunk = nn.Sequential(nn.Conv2d(3, 8, 7, 2, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                          nn.Sequential(nn.Conv2d(8, 8, 3, padding=1)), nn.Sequential(nn.Conv2d(8, 16, 1)))
    trunk.eval().out_channels = 16
    rp = fast._ReducedPrecisionBackbone(trunk, torch.bfloat16, fp32_stem=True)
    assert rp.input_dtype == torch.float32 and trunk[0].weight.dtype == torch.float32
    assert isinstance(trunk[3], fast._CastAfter) and trunk[4][0].weight.dtype == torch.bfloat16
    assert rp(torch.rand(1, 3, 32, 32))["0"].dtype == torch.float32
    no_stem = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 1)))
    no_stem.out_channels = 4
    with pytest.warns(UserWarning, match="no ResNet-style stem"):
        rp = fast._ReducedPrecisionBackbone(no_stem, torch.bfloat16, fp32_stem=True)
    assert rp.input_dtype == torch.bfloat16
