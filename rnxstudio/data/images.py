"""The single place that turns an image file into pixels: upright RGB uint8, EXIF applied."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

# Refuse anything over this many pixels (a decompression bomb guard that never touches
# Pillow's global limit). 178 MP is Pillow's own warning threshold x2; tune via settings.
MAX_PIXELS = 178_956_970

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".gif"}
)


class ImageLoadError(Exception):
    """A file could not be turned into pixels. ``path`` names the file, ``reason`` says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode == "F":
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            arr = (arr - lo) / (hi - lo or 1.0) * 255.0
        else:
            arr = arr / 257.0 if arr.max(initial=0) > 255 else arr
        g = np.clip(arr, 0, 255).astype(np.uint8)
        return Image.fromarray(np.stack([g, g, g], axis=-1), "RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def read_size(path: str | os.PathLike) -> tuple[int, int]:
    """Upright (width, height) from the header only; no pixel decode."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            orientation = img.getexif().get(0x0112, 1) if hasattr(img, "getexif") else 1
    except Exception as exc:  # noqa: BLE001 - every failure becomes one typed error
        raise ImageLoadError(path, _reason(exc)) from exc
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, Image.DecompressionBombError):
        return f"refused: image too large ({exc})"
    text = str(exc) or type(exc).__name__
    if "cannot identify image file" in text:
        return "not an image file (unknown or damaged format)"
    return text


def load(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode ``path`` to an upright ``H x W x 3`` uint8 RGB array.

    Raises :class:`ImageLoadError` naming the file and the reason for anything unreadable,
    including images over ``max_pixels`` (checked from the header, before decoding).
    """
    p = Path(path)
    try:
        with Image.open(p) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise ImageLoadError(
                    p, f"refused: {w}x{h} = {w * h / 1e6:.0f} MP is over the {max_pixels / 1e6:.0f} MP limit"
                )
            img.load()
            try:
                upright = ImageOps.exif_transpose(img)
            except Exception:  # noqa: BLE001 - damaged EXIF is ignored, pixels still load
                upright = img
            rgb = _to_rgb(upright)
            arr = np.asarray(rgb, dtype=np.uint8)
    except ImageLoadError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ImageLoadError(p, _reason(exc)) from exc
    return np.ascontiguousarray(arr)
