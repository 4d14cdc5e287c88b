"""ml/anchors.py and ml/resize.py: detectron2's / mmdetection's anchors and test resize."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision.models.detection.image_list import ImageList

from rnxstudio.ml.anchors import ExactAnchorGenerator
from rnxstudio.ml.resize import ExactResizeTransform, detectron2_size, mmcv_size


def test_anchors_unrounded_on_fixed_strides():
    gen = ExactAnchorGenerator((32, 64, 128, 256, 512), (0.5, 1.0, 2.0))
    # an 800 x 1216 batch: P2..P6 grids; torchvision would give P6 a stride of (61, 64)
    grids = [(200, 304), (100, 152), (50, 76), (25, 38), (13, 19)]
    feats = [torch.zeros(1, 1, h, w) for h, w in grids]
    anchors = gen(ImageList(torch.zeros(1, 3, 800, 1216), [(800, 1216)]), feats)[0]
    assert anchors.shape == (sum(h * w * 3 for h, w in grids), 4)
    w = math.sqrt(32 * 32 / 0.5)
    np.testing.assert_allclose(anchors[0].tolist(), [-w / 2, -w * 0.25, w / 2, w * 0.25], rtol=1e-6)  # ±22.63/±11.31
    p6 = anchors[-13 * 19 * 3:]
    np.testing.assert_allclose(p6[-2].tolist(), [18 * 64 - 256, 12 * 64 - 256, 18 * 64 + 256, 12 * 64 + 256])


@pytest.mark.parametrize("w,h,d2,mm", [(640, 480, (1067, 800), (1067, 800)), (800, 240, (1333, 400), (1333, 400)),
                                       (333, 517, (800, 1242), (800, 1242)), (1400, 900, (1244, 800), (1244, 800))])
def test_sizes_round_to_nearest(w, h, d2, mm):
    assert detectron2_size(w, h, 800, 1333) == d2 and mmcv_size(w, h, 800, 1333) == mm


@pytest.mark.parametrize("style", ["pil", "cv2"])
def test_transform_resizes_uint8_then_normalises_and_leaves_presized_images(style):
    t = ExactResizeTransform(800, 1333, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], style=style).eval()
    rgb = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    x = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    images, _ = t([x])
    assert images.image_sizes == [(800, 1067)]
    prepared = t.prepare(rgb)
    assert prepared.tensor.shape == (3, 800, 1067)
    again, _ = t([prepared.tensor])
    torch.testing.assert_close(again.tensors, images.tensors)
    torch.testing.assert_close(images.tensors[0, :, :800, :1067], (prepared.tensor - 0.5) / 0.25)
