"""ml/roi_pool.py: RoIAlign as sparse matrix products must equal torchvision's kernel (values and
gradients), and the pooler swapped into the zoo's models must change nothing but speed."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign, roi_align

from rnxstudio.ml.roi_pool import PooledRoIAlign, bilinear_matrix, roi_align_sparse
from rnxstudio.ml.zoo import build_model


def _rois(n: int, images: int, extent: float, seed: int) -> torch.Tensor:
    """Boxes of every kind RoIAlign meets: inside, crossing or beyond the border, sub-pixel."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * (extent * 1.2) - extent * 0.1
    wh = torch.rand(n, 2, generator=g) * extent * 0.4 + 0.2
    b = torch.randint(0, images, (n, 1), generator=g).float()
    return torch.cat([b, xy, xy + wh], 1)


@pytest.mark.parametrize("seed,shape,scale,sr", [
    (0, (2, 8, 16, 16), 0.25, 2),
    (1, (3, 4, 9, 13), 0.5, 2),     # odd, non-square map
    (2, (1, 5, 7, 7), 1.0, 1),      # sampling ratio 1
    (3, (2, 3, 12, 10), 0.125, 3),  # sampling ratio 3
])
def test_values_and_gradients_equal_torchvision(seed, shape, scale, sr):
    n, c, h, w = shape
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), requires_grad=True)
    rois = _rois(40, n, max(h, w) / scale, seed)
    ref = roi_align(x, rois, (7, 7), spatial_scale=scale, sampling_ratio=sr, aligned=False)
    ours = roi_align_sparse(x, rois, (7, 7), scale, sr)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn(ref.shape, generator=torch.Generator().manual_seed(seed + 100))
    (g_ref,) = torch.autograd.grad(ref, x, g)
    (g_ours,) = torch.autograd.grad(ours, x, g)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-5, atol=1e-5)
    # and the matrix itself reproduces the forward
    pixels = x.detach().permute(0, 2, 3, 1).reshape(-1, c)
    via_matrix = torch.sparse.mm(bilinear_matrix(rois, scale, (n, h, w), (7, 7), sr), pixels)
    torch.testing.assert_close(via_matrix.view(len(rois), 7, 7, c).permute(0, 3, 1, 2), ref, rtol=1e-5, atol=1e-5)


def test_no_rois_gives_empty_output_and_zero_gradient():
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    out = roi_align_sparse(x, torch.zeros(0, 5), (7, 7), 0.5, 2)
    assert out.shape == (0, 4, 7, 7)
    (g,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    assert g is None or not g.any()


def _tiny(seed: int, pooled: bool):
    torch.manual_seed(seed)
    built = build_model("resnext_tiny_fpn", num_classes=3, pretrained_backbone=False, min_size=96, max_size=128)
    if not pooled:
        old = built.model.roi_heads.box_roi_pool
        built.model.roi_heads.box_roi_pool = MultiScaleRoIAlign(
            featmap_names=list(old.featmap_names), output_size=old.output_size, sampling_ratio=old.sampling_ratio)
    return built.model


def test_zoo_models_use_it_and_training_gradients_match_torchvision():
    ours, ref = _tiny(0, pooled=True), _tiny(0, pooled=False)
    assert isinstance(ours.roi_heads.box_roi_pool, PooledRoIAlign)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    g = torch.Generator().manual_seed(4)
    imgs = [torch.rand(3, 96, 112, generator=g), torch.rand(3, 96, 96, generator=g)]
    targets = [{"boxes": torch.tensor([[10.0, 12.0, 50.0, 60.0], [60.0, 5.0, 90.0, 30.0]]),
                "labels": torch.tensor([1, 2])},
               {"boxes": torch.tensor([[3.0, 40.0, 30.0, 90.0]]), "labels": torch.tensor([3])}]
    grads = []
    for model in (ours, ref):
        model.train()
        torch.manual_seed(7)  # same RoI sampling in both
        losses = model(imgs, targets)
        sum(losses.values()).backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    # the backbone's gradients flow through RoIAlign's backward: the part that differs
    for key in ("backbone.body.layer4.0.conv3.weight", "backbone.fpn.layer_blocks.0.0.weight"):
        torch.testing.assert_close(grads[0][key], grads[1][key], rtol=1e-3, atol=1e-5)
    for model in (ours, ref):
        model.eval()
    with torch.no_grad():  # inference: torchvision's own kernel, identical outputs
        a, b = ours(imgs), ref(imgs)
    for oa, ob in zip(a, b):
        assert torch.equal(oa["boxes"], ob["boxes"]) and torch.equal(oa["scores"], ob["scores"])


@pytest.mark.parametrize("aligned,sr", [(True, 0), (True, 2), (False, 0)])
@pytest.mark.parametrize("seed,shape,scale", [(5, (2, 6, 16, 20), 0.25), (6, (1, 4, 9, 7), 0.125)])
def test_aligned_and_adaptive_sampling_equal_torchvision(seed, shape, scale, aligned, sr):
    """detectron2's ROIAlignV2 / mmcv's RoIAlign convention (aligned=True, sampling_ratio=0):
    values and gradients of the sparse path equal torchvision's roi_align, empty RoIs included."""
    n, c, h, w = shape
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), requires_grad=True)
    rois = _rois(50, n, max(h, w) / scale, seed)
    rois[0, 3] = rois[0, 1]  # zero width: no samples when aligned
    rois[1, 3:] = rois[1, 1:3] + 3 * max(h, w) / scale  # huge: many adaptive samples per bin
    ref = roi_align(x, rois, (7, 7), spatial_scale=scale, sampling_ratio=sr, aligned=aligned)
    ours = roi_align_sparse(x, rois, (7, 7), scale, sr, aligned)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn(ref.shape, generator=torch.Generator().manual_seed(seed + 1))
    (g_ref,) = torch.autograd.grad(ref, x, g)
    (g_ours,) = torch.autograd.grad(ours, x, g)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-5, atol=1e-5)


def test_pooled_aligned_pooler_uses_aligned_kernel_at_inference_and_training():
    feats = {str(i): torch.randn(1, 4, 64 // 2 ** i, 64 // 2 ** i, requires_grad=True) for i in range(4)}
    boxes = [torch.tensor([[3.0, 4.0, 40.0, 50.0], [10.0, 10.0, 200.0, 230.0], [0.0, 0.0, 9.5, 12.0]])]
    pool = PooledRoIAlign(["0", "1", "2", "3"], 7, 0, aligned=True)
    with torch.no_grad():
        inference = pool(feats, boxes, [(256, 256)])
    training = pool(feats, boxes, [(256, 256)])
    torch.testing.assert_close(training, inference, rtol=1e-5, atol=1e-5)
    levels = pool.map_levels(boxes)
    for i in range(3):
        lvl = int(levels[i])
        rois = torch.cat((torch.zeros(1, 1), boxes[0][i:i + 1]), 1)
        one = roi_align(feats[str(lvl)].detach(), rois, (7, 7), spatial_scale=pool.scales[lvl], sampling_ratio=0,
                        aligned=True)
        torch.testing.assert_close(inference[i:i + 1], one)
