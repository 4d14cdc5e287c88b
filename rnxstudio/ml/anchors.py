"""Anchors the way detectron2 and mmdetection make them: unrounded, on fixed strides.

torchvision's :class:`~torchvision.models.detection.anchor_utils.AnchorGenerator` differs from
both frameworks in two ways that change a converted model's proposals:

* it rounds the base anchors to whole pixels (the 0.5-ratio anchor of size 32 becomes
  (-23, -11, 23, 11) instead of (-22.63, -11.31, 22.63, 11.31));
* it derives each level's stride as ``padded image size // feature map size``. For P6 (a
  stride-2 max-pool of P5) on an 800 x 1216 batch the map is 13 x 19, so the "stride" comes out
  as (61, 64) instead of 64.

:class:`ExactAnchorGenerator` keeps the same interface (sizes, aspect ratios, cell order: one
size per level, the ratios in the given order) with base anchors computed in double precision as
``w = sqrt(size**2 / ratio)``, ``h = ratio * w`` and the strides fixed (4, 8, 16, 32, 64 for
P2-P6). Grid offsets start at 0, like both frameworks' defaults.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

FPN_STRIDES = (4, 8, 16, 32, 64)
ANCHOR_STYLES = ("torchvision", "exact")


def cell_anchors(size: float, aspect_ratios: tuple[float, ...]) -> Tensor:
    """Zero-centred (x1, y1, x2, y2) anchors of one level, one row per aspect ratio (h / w),
    computed in float64 and returned as float32 (no rounding)."""
    rows = []
    for ratio in aspect_ratios:
        w = math.sqrt(size * size / ratio)
        h = ratio * w
        rows.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
    return torch.tensor(rows, dtype=torch.float64).to(torch.float32)


class ExactAnchorGenerator(AnchorGenerator):
    """Unrounded anchors on fixed strides (see the module docstring); one size per level.

    A subclass only because torchvision's FasterRCNN accepts nothing else; none of the parent's
    anchor arithmetic is used."""

    def __init__(self, sizes: tuple[float, ...], aspect_ratios: tuple[float, ...],
                 strides: tuple[int, ...] = FPN_STRIDES):
        super().__init__(tuple((s,) for s in sizes), (tuple(aspect_ratios),) * len(sizes))
        if len(sizes) != len(strides):
            raise ValueError(f"{len(sizes)} anchor sizes for {len(strides)} strides")
        self.sizes = tuple(float(s) for s in sizes)
        self.aspect_ratios = tuple(float(r) for r in aspect_ratios)
        self.strides = tuple(int(s) for s in strides)
        self._cells = [cell_anchors(s, self.aspect_ratios) for s in self.sizes]

    def num_anchors_per_location(self) -> list[int]:
        return [len(self.aspect_ratios)] * len(self.sizes)

    def exact_grid_anchors(self, grid_sizes: list[tuple[int, int]], device: torch.device,
                           dtype: torch.dtype) -> list[Tensor]:
        out = []
        for (gh, gw), stride, cell in zip(grid_sizes, self.strides, self._cells, strict=True):
            xs = torch.arange(gw, dtype=torch.float32, device=device) * stride
            ys = torch.arange(gh, dtype=torch.float32, device=device) * stride
            sy, sx = torch.meshgrid(ys, xs, indexing="ij")
            sx, sy = sx.reshape(-1), sy.reshape(-1)
            shifts = torch.stack((sx, sy, sx, sy), dim=1)
            # location-major, then the cell's anchors: the order the RPN head's outputs flatten in
            out.append((shifts.view(-1, 1, 4) + cell.to(device).view(1, -1, 4)).reshape(-1, 4).to(dtype))
        return out

    def forward(self, image_list: ImageList, feature_maps: list[Tensor]) -> list[Tensor]:
        if len(feature_maps) != len(self.strides):
            raise ValueError(f"{len(feature_maps)} feature maps for {len(self.strides)} anchor levels")
        grid_sizes = [(int(f.shape[-2]), int(f.shape[-1])) for f in feature_maps]
        per_level = self.exact_grid_anchors(grid_sizes, feature_maps[0].device, feature_maps[0].dtype)
        anchors = torch.cat(per_level)
        return [anchors for _ in range(len(image_list.image_sizes))]
