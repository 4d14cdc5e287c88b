"""The one conversion from upright RGB pixels to a model input tensor (inference and training).

Normalisation (ImageNet mean/std) and resizing are done inside the model by torchvision's
GeneralizedRCNNTransform, which also maps boxes back to the input size; this module only changes
layout and scale.
"""

from __future__ import annotations

import numpy as np
import torch



def image_to_tensor(rgb: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """``H x W x 3`` uint8 RGB -> float32 ``3 x H x W`` in [0, 1].

    Shares memory with ``rgb`` up to the one unavoidable float copy. With ``device`` the uint8
    pixels move first (a quarter of the bytes of float32) and are converted there.
    """
    if not isinstance(rgb, np.ndarray):
        raise TypeError(f"expected a numpy array, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {rgb.dtype}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"empty image of shape {rgb.shape}")
    t = torch.from_numpy(rgb if rgb.flags.writeable else rgb.copy())
    if device is not None:
        t = t.to(device, non_blocking=True)
    return t.permute(2, 0, 1).to(torch.float32).div_(255.0)
