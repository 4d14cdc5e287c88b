"""Feature map -> 2-D heatmap -> coloured overlay on the upright original image.

Everything here is numpy + OpenCV (no torch), cheap enough for the GUI thread on small maps.

Geometry: a map of stride ``s`` covers the *padded, resized* batch image; cell ``j`` is centred
at ``(j + 0.5) * s`` there. The model resized the original by ``scale`` (resized / original) and
padded on the bottom/right only, so original pixel centre ``x + 0.5`` sits at feature coordinate
``(x + 0.5) * scale / s - 0.5``. :func:`to_image` samples exactly that (bilinear), which is the
same as cropping the valid region of the map and resizing it back to the original size.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

MODES = ("mean", "max", "l2", "channel", "topk")
COLORMAPS: dict[str, int] = {
    "viridis": cv2.COLORMAP_VIRIDIS,
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "gray": -1,
}


def _check_chw(data: np.ndarray) -> np.ndarray:
    if data.ndim != 3:
        raise ValueError(f"expected a (C, H, W) feature map, got shape {data.shape}")
    return np.asarray(data, dtype=np.float32)


def reduce_mean(data: np.ndarray) -> np.ndarray:
    """Mean over channels -> (H, W)."""
    return _check_chw(data).mean(axis=0)


def reduce_max_abs(data: np.ndarray) -> np.ndarray:
    """Max |activation| over channels -> (H, W)."""
    return np.abs(_check_chw(data)).max(axis=0)


def reduce_l2(data: np.ndarray) -> np.ndarray:
    """L2 norm over channels -> (H, W)."""
    d = _check_chw(data)
    return np.sqrt(np.einsum("chw,chw->hw", d, d))


def select_channel(data: np.ndarray, index: int) -> np.ndarray:
    """One channel -> (H, W); IndexError names the valid range."""
    d = _check_chw(data)
    if not 0 <= index < d.shape[0]:
        raise IndexError(f"channel {index} out of range 0..{d.shape[0] - 1}")
    return d[index]


def top_k_channels(data: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` channels with the highest mean activation, highest first.

    Returns (indices (k,), maps (k, H, W)); ties keep the lower channel index first.
    """
    d = _check_chw(data)
    k = max(1, min(int(k), d.shape[0]))
    means = d.reshape(d.shape[0], -1).mean(axis=1)
    order = np.argsort(-means, kind="stable")[:k]
    return order.astype(np.int64), d[order]


def reduce(data: np.ndarray, mode: str = "mean", *, channel: int = 0) -> np.ndarray:
    """Dispatch on ``mode`` in mean | max | l2 | channel (``topk`` is a grid: see :func:`topk_grid`)."""
    if mode == "mean":
        return reduce_mean(data)
    if mode == "max":
        return reduce_max_abs(data)
    if mode == "l2":
        return reduce_l2(data)
    if mode == "channel":
        return select_channel(data, channel)
    raise ValueError(f"unknown reduction {mode!r}; choose one of mean, max, l2, channel")


def normalize(heat: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] float32 per map; a constant (or non-finite) map becomes all zeros."""
    h = np.asarray(heat, dtype=np.float32)
    finite = np.isfinite(h)
    if not finite.any():
        return np.zeros_like(h)
    lo, hi = float(h[finite].min()), float(h[finite].max())
    if hi - lo <= 1e-12:
        return np.zeros_like(h)
    out = (h - lo) / (hi - lo)
    out[~finite] = 0.0
    return out


def feature_cell(x: float, y: float, stride: tuple[float, float], scale: tuple[float, float],
                 shape_hw: tuple[int, int]) -> tuple[int, int] | None:
    """The (row, col) of the cell under original pixel (x, y), or None outside the map."""
    fx = (x + 0.5) * scale[1] / stride[1]
    fy = (y + 0.5) * scale[0] / stride[0]
    r, c = int(np.floor(fy)), int(np.floor(fx))
    if 0 <= r < shape_hw[0] and 0 <= c < shape_hw[1]:
        return r, c
    return None


def to_image(heat: np.ndarray, stride: tuple[float, float], scale: tuple[float, float],
             original_size: tuple[int, int]) -> np.ndarray:
    """Resample a (h, w) map to the original (H, W) image, dropping the padded region."""
    h = np.ascontiguousarray(heat, dtype=np.float32)
    if h.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {h.shape}")
    H, W = int(original_size[0]), int(original_size[1])
    ax = scale[1] / stride[1]
    ay = scale[0] / stride[0]
    m = np.array([[ax, 0.0, 0.5 * ax - 0.5], [0.0, ay, 0.5 * ay - 0.5]], dtype=np.float64)
    return cv2.warpAffine(h, m, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def colorize(heat01: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """[0, 1] map -> RGB uint8 (H, W, 3) with an OpenCV colormap (viridis | jet | turbo | ...)."""
    if cmap not in COLORMAPS:
        raise ValueError(f"unknown colormap {cmap!r}; choose one of {', '.join(COLORMAPS)}")
    u8 = np.clip(np.nan_to_num(heat01) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if COLORMAPS[cmap] < 0:
        return np.repeat(u8[..., None], 3, axis=2)
    return cv2.cvtColor(cv2.applyColorMap(u8, COLORMAPS[cmap]), cv2.COLOR_BGR2RGB)


def overlay(rgb: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = "viridis") -> np.ndarray:
    """Blend a heatmap over ``rgb``: ``heat`` is a [0,1] 2-D map (coloured with ``cmap``) or an RGB
    uint8 image of the same size. ``alpha`` is the heatmap's opacity (0 = image only)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {rgb.shape}")
    color = colorize(heat, cmap) if heat.ndim == 2 else heat
    if color.shape[:2] != rgb.shape[:2]:
        raise ValueError(f"heatmap size {color.shape[:2]} does not match image size {rgb.shape[:2]}")
    a = float(np.clip(alpha, 0.0, 1.0))
    return cv2.addWeighted(np.ascontiguousarray(rgb, dtype=np.uint8), 1.0 - a,
                           np.ascontiguousarray(color, dtype=np.uint8), a, 0.0)


def grid_shape(n: int, cols: int | None = None) -> tuple[int, int]:
    """(rows, cols) of a near-square grid for ``n`` tiles."""
    cols = cols or int(np.ceil(np.sqrt(max(1, n))))
    return int(np.ceil(n / cols)), cols


def tile_grid(maps: Sequence[np.ndarray] | np.ndarray, cols: int | None = None, pad: int = 1) -> np.ndarray:
    """Lay out equally sized 2-D maps (each normalised to [0,1]) in a grid; gaps are 0."""
    maps = [np.asarray(m, dtype=np.float32) for m in maps]
    if not maps:
        raise ValueError("tile_grid needs at least one map")
    h, w = maps[0].shape
    rows, cols = grid_shape(len(maps), cols)
    grid = np.zeros((rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad), dtype=np.float32)
    for i, m in enumerate(maps):
        r, c = divmod(i, cols)
        grid[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = normalize(m)
    return grid


def topk_grid(data: np.ndarray, k: int = 16, cols: int | None = None, pad: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Grid of the top-``k`` channels (see :func:`top_k_channels`); returns (grid, channel indices)."""
    idx, maps = top_k_channels(data, k)
    return tile_grid(list(maps), cols, pad), idx


def stage_heatmap(data: np.ndarray, stride: tuple[float, float], scale: tuple[float, float],
                  original_size: tuple[int, int], mode: str = "mean", *, channel: int = 0) -> np.ndarray:
    """Reduce, normalise and map one captured stage to the original image: (H, W) in [0, 1]."""
    return np.clip(to_image(normalize(reduce(data, mode, channel=channel)), stride, scale, original_size), 0, 1)
