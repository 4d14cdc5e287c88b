"""RoIAlign with a sparse-matrix backward, for training on the CPU.

torchvision's CPU RoIAlign backward walks every RoI, channel, bin and sample point in one
thread and recomputes the bilinear weights for every channel. On the shapes benchmark (tiny
model, 256 px, 128 RoIs per image, 2 cores) it took 27 % of a training step, more than all
the convolution backwards together.

RoIAlign is linear in the feature map: for one level, ``out = A @ X`` where X is the feature map
as a (pixels x channels) matrix and A is a sparse (RoIs*bins x pixels) matrix holding each
bin's bilinear sample weights (at most 16 entries a row with the 2 x 2 sampling grid). So the
gradient is ``A.T @ dOut``: one sparse-dense product, vectorised over channels.

The forward uses the same matrix (A is built once per level and step and kept for the
backward); it equals torchvision's kernel up to float rounding, and inference keeps
torchvision's kernel. :class:`PooledRoIAlign` is a drop-in
``MultiScaleRoIAlign`` that uses it when autograd needs the feature gradient on the CPU and
torchvision's own path everywhere else (GPU, inference, adaptive sampling ratio).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from torchvision.ops import MultiScaleRoIAlign

# torch prints "Sparse CSR tensor support is in beta state" once per process; the CSR product
# used here is long-standing and covered by tests/unit/test_roi_pool.py
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def bilinear_matrix(rois: Tensor, spatial_scale: float, feature_shape: tuple[int, int, int],
                    output_size: tuple[int, int], sampling_ratio: int) -> Tensor:
    """The sparse COO (K*ph*pw x N*H*W) matrix A with ``roi_align(x, rois) == A @ x_as_pixels``
    (x_as_pixels: the map as an (N*H*W x C) matrix). See :func:`bilinear_entries`."""
    rows, cols, vals = bilinear_entries(rois, spatial_scale, feature_shape, output_size, sampling_ratio)
    n, h, w = feature_shape
    shape = (rois.shape[0] * output_size[0] * output_size[1], n * h * w)
    return torch.sparse_coo_tensor(torch.stack((rows, cols)), vals, shape, check_invariants=False)


def bilinear_entries(rois: Tensor, spatial_scale: float, feature_shape: tuple[int, int, int],
                     output_size: tuple[int, int], sampling_ratio: int) -> tuple[Tensor, Tensor, Tensor]:
    """(row, column, weight) of every entry of RoIAlign's matrix A (see :func:`bilinear_matrix`),
    row-major: each output bin's ``4 * sampling_ratio**2`` entries are consecutive.

    ``rois`` is (K, 5) [batch index, x1, y1, x2, y2] in image coordinates (aligned=False, as
    torchvision's detection models use); ``feature_shape`` is (N, H, W). Follows torchvision's
    kernel: RoI sides at least 1 feature pixel, ``sampling_ratio`` x ``sampling_ratio`` samples
    per bin averaged, samples outside [-1, H] x [-1, W] contribute nothing, coordinates clamped
    to the map.
    """
    if sampling_ratio <= 0:
        raise ValueError("bilinear_matrix needs a fixed sampling_ratio > 0")
    n, h, w = feature_shape
    ph, pw = output_size
    sr = sampling_ratio
    k = rois.shape[0]
    dt = rois.dtype
    r = rois.detach()
    b = r[:, 0].long()
    x1, y1 = r[:, 1] * spatial_scale, r[:, 2] * spatial_scale
    x2, y2 = r[:, 3] * spatial_scale, r[:, 4] * spatial_scale
    bin_h = (y2 - y1).clamp(min=1.0) / ph
    bin_w = (x2 - x1).clamp(min=1.0) / pw

    def axis(start: Tensor, bin_size: Tensor, bins: int, size: int) -> tuple[Tensor, Tensor]:
        """Tap indices and weights along one axis: (K, bins, sr, 2) each."""
        p = torch.arange(bins, dtype=dt).view(1, bins, 1)
        i = torch.arange(sr, dtype=dt).view(1, 1, sr) + 0.5
        pos = start.view(-1, 1, 1) + p * bin_size.view(-1, 1, 1) + i * bin_size.view(-1, 1, 1) / sr
        valid = (pos >= -1.0) & (pos <= size)
        pos = pos.clamp(min=0.0)
        low = pos.floor().long()
        at_edge = low >= size - 1
        low = torch.where(at_edge, torch.full_like(low, size - 1), low)
        high = torch.where(at_edge, low, low + 1)
        frac = torch.where(at_edge, torch.zeros_like(pos), pos - low.to(dt))
        zero = torch.zeros_like(frac)
        w_low = torch.where(valid, 1.0 - frac, zero)
        w_high = torch.where(valid, frac, zero)
        return torch.stack((low, high), -1), torch.stack((w_low, w_high), -1)

    iy, wy = axis(y1, bin_h, ph, h)  # (K, ph, sr, 2)
    ix, wx = axis(x1, bin_w, pw, w)  # (K, pw, sr, 2)
    # every (bin row p, bin col q, sample i, sample j, y tap a, x tap c) combination
    shape = (k, ph, pw, sr, 2, sr, 2)
    iy_, wy_ = iy.view(k, ph, 1, sr, 2, 1, 1), wy.view(k, ph, 1, sr, 2, 1, 1)
    ix_, wx_ = ix.view(k, 1, pw, 1, 1, sr, 2), wx.view(k, 1, pw, 1, 1, sr, 2)
    cols = (b.view(k, 1, 1, 1, 1, 1, 1) * (h * w) + iy_ * w + ix_).expand(shape)
    vals = (wy_ * wx_).expand(shape) / float(sr * sr)
    rows = torch.arange(k * ph * pw).view(k, ph, pw, 1, 1, 1, 1).expand(shape)
    return rows.reshape(-1), cols.reshape(-1), vals.reshape(-1)


def _transposed_csr(rows: Tensor, cols: Tensor, vals: Tensor, shape: tuple[int, int]) -> Tensor:
    """A.T in CSR form from A's entries: sort by column, count entries per column. Repeated
    (row, column) pairs stay separate entries; the product sums them, as it should."""
    order = torch.argsort(cols)
    crow = torch.zeros(shape[1] + 1, dtype=torch.long)
    crow[1:] = torch.bincount(cols, minlength=shape[1]).cumsum(0)
    return torch.sparse_csr_tensor(crow, rows[order], vals[order], (shape[1], shape[0]), check_invariants=False)


class _SparseRoIAlign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float,
                sampling_ratio: int) -> Tensor:
        n, c, h, w = x.shape
        k = rois.shape[0]
        ph, pw = output_size
        ctx.meta = (x.shape, x.dtype, k * ph * pw)
        if k == 0:
            ctx.save_for_backward(rois, rois, rois)
            return x.new_zeros((0, c, ph, pw))
        rows, cols, vals = bilinear_entries(rois, spatial_scale, (n, h, w), output_size, sampling_ratio)
        vals = vals.to(torch.float32)
        ctx.save_for_backward(rows, cols, vals)
        per_bin = 4 * sampling_ratio * sampling_ratio  # entries per row, rows in order
        crow = torch.arange(0, k * ph * pw + 1, dtype=torch.long) * per_bin
        a = torch.sparse_csr_tensor(crow, cols, vals, (k * ph * pw, n * h * w), check_invariants=False)
        pixels = x.detach().to(torch.float32).permute(0, 2, 3, 1).reshape(n * h * w, c)
        out = torch.sparse.mm(a, pixels)  # (K*ph*pw, C)
        return out.view(k, ph, pw, c).permute(0, 3, 1, 2).contiguous().to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        rows, cols, vals = ctx.saved_tensors
        (n, c, h, w), dtype, k_bins = ctx.meta
        if k_bins == 0:
            return grad_out.new_zeros((n, c, h, w), dtype=dtype), None, None, None, None
        a_t = _transposed_csr(rows, cols, vals, (k_bins, n * h * w))
        g = grad_out.to(torch.float32).permute(0, 2, 3, 1).reshape(k_bins, c)
        grad = torch.sparse.mm(a_t, g)  # (N*H*W, C)
        return grad.view(n, h, w, c).permute(0, 3, 1, 2).to(dtype), None, None, None, None


def roi_align_sparse(x: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float,
                              sampling_ratio: int) -> Tensor:
    """``torchvision.ops.roi_align`` (aligned=False, fixed sampling ratio) as two sparse matrix
    products: forward ``A @ X``, backward ``A.T @ dOut``. Equal to torchvision's up to float
    rounding (summation order)."""
    return _SparseRoIAlign.apply(x, rois, tuple(output_size), float(spatial_scale), int(sampling_ratio))


class PooledRoIAlign(MultiScaleRoIAlign):
    """``MultiScaleRoIAlign`` that trains faster on the CPU (see the module docstring).

    Same constructor, no parameters, same state dict (none): checkpoints do not see it.
    """

    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]) -> Tensor:
        feats = [v for k, v in x.items() if k in self.featmap_names]
        needs_grad = torch.is_grad_enabled() and any(f.requires_grad for f in feats)
        if (not needs_grad or self.sampling_ratio <= 0 or not feats or feats[0].device.type != "cpu"
                or torch.jit.is_scripting()):
            return super().forward(x, boxes, image_shapes)
        if self.scales is None or self.map_levels is None:
            super().forward({k: v.detach() for k, v in x.items()}, [bx[:0] for bx in boxes], image_shapes)
        rois = torch.cat([torch.cat((torch.full_like(bx[:, :1], i), bx), 1) for i, bx in enumerate(boxes)])
        size = tuple(self.output_size)
        if len(feats) == 1:
            return roi_align_sparse(feats[0], rois, size, self.scales[0], self.sampling_ratio)
        levels = self.map_levels(boxes)
        out = feats[0].new_zeros((rois.shape[0], feats[0].shape[1]) + size)
        for level, (feat, scale) in enumerate(zip(feats, self.scales)):
            idx = torch.where(levels == level)[0]
            if idx.numel():
                out = out.index_put((idx,), roi_align_sparse(feat, rois[idx], size, scale,
                                                                      self.sampling_ratio).to(out.dtype))
        return out


def use_pooled_roi_align(model: torch.nn.Module) -> None:
    """Swap a torchvision detector's box RoI pooler for :class:`PooledRoIAlign` (same settings)."""
    heads = getattr(model, "roi_heads", None)
    old = getattr(heads, "box_roi_pool", None)
    if type(old) is MultiScaleRoIAlign:
        heads.box_roi_pool = PooledRoIAlign(featmap_names=list(old.featmap_names), output_size=old.output_size,
                                            sampling_ratio=old.sampling_ratio, canonical_scale=old.canonical_scale,
                                            canonical_level=old.canonical_level)
