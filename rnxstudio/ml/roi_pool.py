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
torchvision's kernel everywhere else (GPU, inference). Both RoIAlign conventions are covered:
torchvision's (``aligned=False``, 2 x 2 samples) and detectron2's / mmcv's (``aligned=True``,
adaptive sampling ratio 0), which converted COCO models need (docs/adr/0010).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from torchvision.ops import MultiScaleRoIAlign, roi_align

# torch prints "Sparse CSR tensor support is in beta state" once per process; the CSR product
# used here is long-standing and covered by tests/unit/test_roi_pool.py
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def bilinear_matrix(rois: Tensor, spatial_scale: float, feature_shape: tuple[int, int, int],
                    output_size: tuple[int, int], sampling_ratio: int, aligned: bool = False) -> Tensor:
    """The sparse COO (K*ph*pw x N*H*W) matrix A with ``roi_align(x, rois) == A @ x_as_pixels``
    (x_as_pixels: the map as an (N*H*W x C) matrix). See :func:`bilinear_entries`."""
    rows, cols, vals = bilinear_entries(rois, spatial_scale, feature_shape, output_size, sampling_ratio, aligned)
    n, h, w = feature_shape
    shape = (rois.shape[0] * output_size[0] * output_size[1], n * h * w)
    return torch.sparse_coo_tensor(torch.stack((rows, cols)), vals, shape, check_invariants=False)


def _axis_taps(start: Tensor, bin_size: Tensor, bins: int, grid: int, count: Tensor,
               size: int) -> tuple[Tensor, Tensor]:
    """Tap indices and weights along one axis for RoIs that share a ``grid`` of samples per bin:
    (K, bins, grid, 2) each. Follows torchvision's kernel: samples outside [-1, size] contribute
    nothing, coordinates below 0 clamp to 0, the last row/column has no right neighbour."""
    dt = start.dtype
    p = torch.arange(bins, dtype=dt).view(1, bins, 1)
    i = torch.arange(grid, dtype=dt).view(1, 1, grid) + 0.5
    pos = start.view(-1, 1, 1) + p * bin_size.view(-1, 1, 1) + i * bin_size.view(-1, 1, 1) / count.view(-1, 1, 1)
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


def bilinear_entries(rois: Tensor, spatial_scale: float, feature_shape: tuple[int, int, int],
                     output_size: tuple[int, int], sampling_ratio: int,
                     aligned: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """(row, column, weight) of every entry of RoIAlign's matrix A (see :func:`bilinear_matrix`),
    sorted by row (output bin).

    ``rois`` is (K, 5) [batch index, x1, y1, x2, y2] in image coordinates; ``feature_shape`` is
    (N, H, W). Follows torchvision's kernel for both conventions: ``aligned=False`` (torchvision's
    detection models: RoI sides at least 1 feature pixel) and ``aligned=True`` (detectron2's
    ROIAlignV2, mmcv's RoIAlign: coordinates shifted by -0.5, no minimum size). A
    ``sampling_ratio`` > 0 takes that many samples per bin and axis; 0 takes
    ``ceil(roi side / bins)`` per RoI and axis, as both frameworks do. Samples are averaged.
    """
    n, h, w = feature_shape
    ph, pw = output_size
    k = rois.shape[0]
    dt = rois.dtype
    r = rois.detach()
    offset = 0.5 if aligned else 0.0
    x1, y1 = r[:, 1] * spatial_scale - offset, r[:, 2] * spatial_scale - offset
    x2, y2 = r[:, 3] * spatial_scale - offset, r[:, 4] * spatial_scale - offset
    roi_h, roi_w = y2 - y1, x2 - x1
    if not aligned:
        roi_h, roi_w = roi_h.clamp(min=1.0), roi_w.clamp(min=1.0)
    bin_h, bin_w = roi_h / ph, roi_w / pw
    if sampling_ratio > 0:
        grid_h = torch.full((k,), sampling_ratio, dtype=torch.long)
        grid_w = grid_h
    else:
        grid_h, grid_w = torch.ceil(bin_h).long(), torch.ceil(bin_w).long()
    parts = []
    for gh, gw in torch.unique(torch.stack((grid_h, grid_w), 1), dim=0).tolist() if k else []:
        sel = torch.where((grid_h == gh) & (grid_w == gw))[0]
        if gh == 0 or gw == 0:
            continue  # an empty RoI (aligned): no samples, the output stays 0
        m = sel.numel()
        iy, wy = _axis_taps(y1[sel], bin_h[sel], ph, gh, torch.full((m,), float(gh), dtype=dt), h)
        ix, wx = _axis_taps(x1[sel], bin_w[sel], pw, gw, torch.full((m,), float(gw), dtype=dt), w)
        # every (bin row p, bin col q, sample i, sample j, y tap a, x tap c) combination
        shape = (m, ph, pw, gh, 2, gw, 2)
        iy_, wy_ = iy.view(m, ph, 1, gh, 2, 1, 1), wy.view(m, ph, 1, gh, 2, 1, 1)
        ix_, wx_ = ix.view(m, 1, pw, 1, 1, gw, 2), wx.view(m, 1, pw, 1, 1, gw, 2)
        b = r[sel, 0].long().view(m, 1, 1, 1, 1, 1, 1)
        cols = (b * (h * w) + iy_ * w + ix_).expand(shape)
        vals = (wy_ * wx_).expand(shape) / float(gh * gw)
        first = (sel * (ph * pw)).view(m, 1, 1, 1, 1, 1, 1)
        rows = (first + torch.arange(ph * pw).view(1, ph, pw, 1, 1, 1, 1)).expand(shape)
        parts.append((rows.reshape(-1), cols.reshape(-1), vals.reshape(-1)))
    if not parts:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty, torch.zeros(0, dtype=dt)
    rows, cols, vals = (torch.cat(t) for t in zip(*parts))
    if len(parts) > 1:
        order = torch.argsort(rows, stable=True)
        rows, cols, vals = rows[order], cols[order], vals[order]
    return rows, cols, vals


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
                sampling_ratio: int, aligned: bool) -> Tensor:
        n, c, h, w = x.shape
        k = rois.shape[0]
        ph, pw = output_size
        ctx.meta = (x.shape, x.dtype, k * ph * pw)
        if k == 0:
            ctx.save_for_backward(rois, rois, rois)
            return x.new_zeros((0, c, ph, pw))
        rows, cols, vals = bilinear_entries(rois, spatial_scale, (n, h, w), output_size, sampling_ratio, aligned)
        vals = vals.to(torch.float32)
        ctx.save_for_backward(rows, cols, vals)
        crow = torch.zeros(k * ph * pw + 1, dtype=torch.long)  # rows are sorted
        crow[1:] = torch.bincount(rows, minlength=k * ph * pw).cumsum(0)
        a = torch.sparse_csr_tensor(crow, cols, vals, (k * ph * pw, n * h * w), check_invariants=False)
        pixels = x.detach().to(torch.float32).permute(0, 2, 3, 1).reshape(n * h * w, c)
        out = torch.sparse.mm(a, pixels)  # (K*ph*pw, C)
        return out.view(k, ph, pw, c).permute(0, 3, 1, 2).contiguous().to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        rows, cols, vals = ctx.saved_tensors
        (n, c, h, w), dtype, k_bins = ctx.meta
        if k_bins == 0:
            return grad_out.new_zeros((n, c, h, w), dtype=dtype), None, None, None, None, None
        a_t = _transposed_csr(rows, cols, vals, (k_bins, n * h * w))
        g = grad_out.to(torch.float32).permute(0, 2, 3, 1).reshape(k_bins, c)
        grad = torch.sparse.mm(a_t, g)  # (N*H*W, C)
        return grad.view(n, h, w, c).permute(0, 3, 1, 2).to(dtype), None, None, None, None, None


def roi_align_sparse(x: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float,
                     sampling_ratio: int, aligned: bool = False) -> Tensor:
    """``torchvision.ops.roi_align`` as two sparse matrix products: forward ``A @ X``, backward
    ``A.T @ dOut``. Either convention (``aligned``), fixed or adaptive (0) sampling ratio. Equal to
    torchvision's up to float rounding (summation order)."""
    return _SparseRoIAlign.apply(x, rois, tuple(output_size), float(spatial_scale), int(sampling_ratio),
                                 bool(aligned))


class PooledRoIAlign(MultiScaleRoIAlign):
    """``MultiScaleRoIAlign`` that trains faster on the CPU (see the module docstring), and that
    also offers the ``aligned=True`` convention (detectron2's ROIAlignV2, mmcv's RoIAlign), which
    torchvision's pooler does not expose.

    Same constructor plus ``aligned``; no parameters, same state dict (none): checkpoints do not
    see it.
    """

    def __init__(self, featmap_names: list[str], output_size, sampling_ratio: int, *,
                 canonical_scale: int = 224, canonical_level: int = 4, aligned: bool = False):
        super().__init__(featmap_names, output_size, sampling_ratio,
                         canonical_scale=canonical_scale, canonical_level=canonical_level)
        self.aligned = bool(aligned)

    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]) -> Tensor:
        feats = [v for k, v in x.items() if k in self.featmap_names]
        needs_grad = torch.is_grad_enabled() and any(f.requires_grad for f in feats)
        sparse = needs_grad and bool(feats) and feats[0].device.type == "cpu" and not torch.jit.is_scripting()
        if not sparse and not self.aligned:
            return super().forward(x, boxes, image_shapes)
        if self.scales is None or self.map_levels is None:
            super().forward({k: v.detach() for k, v in x.items()}, [bx[:0] for bx in boxes], image_shapes)
        rois = torch.cat([torch.cat((torch.full_like(bx[:, :1], i), bx), 1) for i, bx in enumerate(boxes)])
        size = tuple(self.output_size)

        def pool(feat: Tensor, r: Tensor, scale: float) -> Tensor:
            if sparse:
                return roi_align_sparse(feat, r, size, scale, self.sampling_ratio, self.aligned)
            return roi_align(feat, r, size, spatial_scale=scale, sampling_ratio=self.sampling_ratio,
                             aligned=self.aligned)

        if len(feats) == 1:
            return pool(feats[0], rois, self.scales[0])
        levels = self.map_levels(boxes)
        out = feats[0].new_zeros((rois.shape[0], feats[0].shape[1]) + size)
        for level, (feat, scale) in enumerate(zip(feats, self.scales)):
            idx = torch.where(levels == level)[0]
            if idx.numel():
                out = out.index_put((idx,), pool(feat, rois[idx], scale).to(out.dtype))
        return out


def use_pooled_roi_align(model: torch.nn.Module, *, aligned: bool | None = None,
                         sampling_ratio: int | None = None) -> None:
    """Swap a torchvision detector's box RoI pooler for :class:`PooledRoIAlign` (same settings,
    unless ``aligned`` / ``sampling_ratio`` are given: ``True`` / ``0`` is detectron2's and
    mmdetection's RoIAlign)."""
    heads = getattr(model, "roi_heads", None)
    old = getattr(heads, "box_roi_pool", None)
    if isinstance(old, MultiScaleRoIAlign):
        heads.box_roi_pool = PooledRoIAlign(
            featmap_names=list(old.featmap_names), output_size=old.output_size,
            sampling_ratio=old.sampling_ratio if sampling_ratio is None else int(sampling_ratio),
            canonical_scale=old.canonical_scale, canonical_level=old.canonical_level,
            aligned=getattr(old, "aligned", False) if aligned is None else aligned)
