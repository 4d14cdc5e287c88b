"""Test-time resizing the way detectron2 and mmdetection do it, for converted models.

torchvision's ``GeneralizedRCNNTransform`` resizes the float image tensor with
``F.interpolate(bilinear)`` to ``floor(side * scale)``. Both frameworks resize the uint8 image
before it becomes a tensor and round the size to nearest:

* detectron2 (``ResizeShortestEdge`` + ``ResizeTransform``): ``int(side * scale + 0.5)``, then
  PIL ``Image.resize(BILINEAR)``, which filters with a triangle kernel widened by the scale
  when shrinking (antialiasing);
* mmdetection (``Resize(keep_ratio=True)`` -> ``mmcv.imrescale``): the same rounding, then
  OpenCV ``INTER_LINEAR`` (no antialiasing, fixed-point weights on uint8).

A 640 x 480 photo goes to 1067 x 800 in both, 1066 x 800 in torchvision; on a large photo the
antialiasing changes every pixel. The measured effect on a converted model is in
docs/adr/0010-converted-coco-models.md; :class:`ExactResizeTransform` reproduces the original.
"""

from __future__ import annotations

import numpy as np
import torch

from rnxstudio.ml.fast import PresizedTransform
from rnxstudio.ml.prefetch import PreparedImage

RESIZE_STYLES = ("torchvision", "pil", "cv2")


def detectron2_size(width: int, height: int, short: int, max_size: int) -> tuple[int, int]:
    """(w, h) that detectron2's ``ResizeShortestEdge.get_output_shape`` gives."""
    size = float(short)
    scale = size / min(height, width)
    if height < width:
        newh, neww = size, scale * width
    else:
        newh, neww = scale * height, size
    if max(newh, neww) > max_size:
        scale = max_size * 1.0 / max(newh, neww)
        newh, neww = newh * scale, neww * scale
    return int(neww + 0.5), int(newh + 0.5)


def mmcv_size(width: int, height: int, short: int, max_size: int) -> tuple[int, int]:
    """(w, h) that mmcv's ``imrescale(img, (max_size, short))`` gives."""
    scale = min(max_size / max(height, width), short / min(height, width))
    return int(width * float(scale) + 0.5), int(height * float(scale) + 0.5)


def target_size(style: str, width: int, height: int, short: int, max_size: int) -> tuple[int, int]:
    if style == "pil":
        return detectron2_size(width, height, short, max_size)
    if style == "cv2":
        return mmcv_size(width, height, short, max_size)
    raise ValueError(f"unknown resize style {style!r}; choose one of {', '.join(RESIZE_STYLES[1:])}")


def resize_uint8(rgb: np.ndarray, size: tuple[int, int], style: str) -> np.ndarray:
    """``rgb`` (H x W x 3 uint8) resized to ``size`` (w, h) with the framework's own resampler."""
    if (rgb.shape[1], rgb.shape[0]) == tuple(size):
        return rgb
    if style == "pil":
        from PIL import Image

        return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize(tuple(size), Image.BILINEAR))
    if style == "cv2":
        import cv2

        return cv2.resize(np.ascontiguousarray(rgb), tuple(size), interpolation=cv2.INTER_LINEAR)
    raise ValueError(f"unknown resize style {style!r}")


class ExactResizeTransform(PresizedTransform):
    """``GeneralizedRCNNTransform`` that resizes at test time like detectron2 (``style="pil"``)
    or mmdetection (``"cv2"``); training keeps torchvision's resize. Images already at the
    target size (from :meth:`prepare`, on the prefetch threads) pass through untouched."""

    def __init__(self, min_size, max_size, image_mean, image_std, *, style: str, **kw):
        super().__init__(min_size, max_size, image_mean, image_std, **kw)
        if style not in ("pil", "cv2"):
            raise ValueError(f"ExactResizeTransform style must be 'pil' or 'cv2', got {style!r}")
        self.style = style

    def _target(self, width: int, height: int) -> tuple[int, int]:
        return target_size(self.style, width, height, int(self.min_size[-1]), int(self.max_size))

    def prepare(self, rgb: np.ndarray) -> PreparedImage:
        """Resize an upright RGB uint8 image to this model's test size (off the model thread)."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an H x W x 3 uint8 RGB array, got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        small = resize_uint8(rgb, self._target(w, h), self.style)
        t = torch.from_numpy(np.array(small)).permute(2, 0, 1).to(torch.float32).div_(255.0)
        return PreparedImage(t, (int(w), int(h)))

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        # torchvision normalises before resizing; at test time this transform resizes the uint8
        # pixels first (as the frameworks do) and normalises in resize()
        if self.training or self.fixed_size is not None:
            return super().normalize(image)
        return image

    def resize(self, image: torch.Tensor, target=None):
        if self.training or self.fixed_size is not None:
            return super(PresizedTransform, self).resize(image, target)
        h, w = int(image.shape[-2]), int(image.shape[-1])
        size = self._target(w, h)
        if size != (w, h):
            # the inputs are uint8 pixels / 255 (ml.tensors.image_to_tensor): back to uint8 exactly
            pixels = (image.detach() * 255.0).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            small = resize_uint8(pixels, size, self.style)
            image = torch.from_numpy(np.array(small)).to(image.device).permute(2, 0, 1).to(image.dtype)
            image = image.div_(255.0)
        return super().normalize(image), target
