"""The single place that turns an image file into pixels: upright RGB uint8, EXIF applied.

Conventions (every caller — canvas, store, formats, training — relies on them):

- Result: a C-contiguous, writable ``H x W x 3`` ``uint8`` RGB array, with the EXIF
  orientation (all 8 cases, JPEG/TIFF/WebP EXIF and PNG ``eXIf``) already applied. A damaged
  EXIF block is ignored (the pixels still load, as stored).
- Alpha (RGBA, LA, palette or grey with a transparent colour) is composited over white.
- Grey with more than 8 bits (``I;16``, 16-bit PGM/TIFF): many cameras and microscopes store
  10/12/14-bit data in 16-bit containers, which a plain ``>> 8`` would show as black. The
  significant depth is taken as the smallest of 8/10/12/14/16 bits that holds the image's
  largest value, and the values are shifted down to 8 bits. Float images are min-max scaled.
- 16-bit-per-channel colour (PNG/TIFF) keeps the high byte (``>> 8``), which is what the
  decoders do and what full-range 16-bit colour needs.
- Anything unreadable raises :class:`ImageLoadError` naming the file and the reason;
  truncated files are errors (Pillow's ``LOAD_TRUNCATED_IMAGES`` is never touched). Images
  over ``max_pixels`` are refused from the header, before any pixel memory is allocated, and
  without changing Pillow's global ``Image.MAX_IMAGE_PIXELS``.
- Files Pillow cannot identify are tried once with OpenCV (``cv2.imdecode``), which covers a
  few TIFF/JPEG-2000 variants Pillow lacks.
"""

from __future__ import annotations

import functools
import io
import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image

# Refuse anything over this many pixels (a decompression bomb guard that never touches
# Pillow's global limit). Equal to Pillow's own warning threshold; Pillow itself refuses
# anything over twice its global limit regardless of this value.
MAX_PIXELS = 178_956_970

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm", ".gif"}
)

_ORIENTATION_TAG = 0x0112
_GREY_HIGH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_STANDARD_DEPTHS = (8, 10, 12, 14, 16)
_PILLOW_NATIVE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF")


class ImageLoadError(Exception):
    """A file could not be turned into pixels. ``path`` names the file, ``reason`` says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


# ----------------------------------------------------------------------------- orientation


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation ``1..8`` to an H x W (x C) array as a view (no copy)."""
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1]
    if orientation in (5, 6, 7, 8):
        t = arr.swapaxes(0, 1)
        if orientation == 6:  # rotate 90 deg clockwise
            return t[:, ::-1]
        if orientation == 7:  # transverse
            return t[::-1, ::-1]
        if orientation == 8:  # rotate 90 deg counter-clockwise
            return t[::-1]
        return t  # 5: transpose
    return arr


def _exif_orientation(img: Image.Image) -> int:
    """Orientation tag of an opened image (1 when absent, invalid or the EXIF is damaged)."""
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - damaged EXIF blocks are ignored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


@functools.lru_cache(maxsize=1)
def _pillow_orients_tiff() -> bool:
    """Newer Pillow applies a TIFF's orientation itself (upright ``size`` at open, pixels on
    load). Probe once with a 2x1 in-memory TIFF tagged "rotate 90" instead of trusting versions."""
    buf = io.BytesIO()
    Image.new("L", (2, 1)).save(buf, "TIFF", tiffinfo={_ORIENTATION_TAG: 6})
    buf.seek(0)
    with Image.open(buf) as probe:
        return probe.size == (1, 2)


def _stored_orientation(img: Image.Image, path: str | os.PathLike) -> int:
    """The orientation still to apply to ``img`` (1 when the decoder applies it itself)."""
    if img.format == "PNG":
        return _png_orientation(path)
    if img.format == "TIFF" and _pillow_orients_tiff():
        return 1
    return _exif_orientation(img)


def _png_orientation(path: str | os.PathLike) -> int:
    """Orientation from a PNG ``eXIf`` chunk by walking chunk headers (no decompression).

    Pillow's ``getexif()`` on a PNG decodes the whole image to find an eXIf chunk stored
    after the pixel data; this only seeks over the chunks.
    """
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != b"\x89PNG\r\n\x1a\n":
                return 1
            while True:
                head = fh.read(8)
                if len(head) < 8:
                    return 1
                length, ctype = struct.unpack(">I4s", head)
                if ctype == b"eXIf":
                    exif = Image.Exif()
                    exif.load(fh.read(length))
                    value = exif.get(_ORIENTATION_TAG, 1)
                    return value if isinstance(value, int) and 1 <= value <= 8 else 1
                if ctype == b"IEND":
                    return 1
                fh.seek(length + 4, os.SEEK_CUR)
    except Exception:  # noqa: BLE001 - damaged chunks or EXIF: treat as upright
        return 1


# ----------------------------------------------------------------------------- errors


def _reason(exc: BaseException, path: str | os.PathLike) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not an image file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, Image.DecompressionBombError):
        return f"refused: image too large, possibly a decompression bomb ({exc})"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode this image"
    text = str(exc) or type(exc).__name__
    if "cannot identify image file" in text:
        try:
            if os.path.getsize(path) == 0:
                return "empty file (0 bytes)"
        except OSError:
            pass
        return "not an image file (unknown or damaged format)"
    if "truncated" in text.lower():
        return f"truncated or incomplete image data ({text})"
    return f"damaged image data ({text})"


def _too_large(w: int, h: int, max_pixels: int) -> str:
    return (
        f"refused: {w}x{h} = {w * h / 1e6:.1f} MP is over the {max_pixels / 1e6:.1f} MP limit "
        "(possibly a decompression bomb)"
    )


# ----------------------------------------------------------------------------- public API


def read_size(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Upright ``(width, height)`` from the header only (no pixel decode).

    Raises :class:`ImageLoadError` for unreadable files and for images over ``max_pixels``.
    """
    try:
        with Image.open(path) as img:
            w, h = img.size
            orientation = _stored_orientation(img, path)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one typed error
        raise ImageLoadError(path, _reason(exc, path)) from exc
    if w * h > max_pixels:
        raise ImageLoadError(path, _too_large(w, h, max_pixels))
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def check_complete(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> None:
    """Raise :class:`ImageLoadError` when ``path`` cannot be decoded whole (what an export checks
    before it writes an image into label files). Cheaper than :func:`load` where it can be: a PNG's
    chunks are walked and CRC-checked without inflating pixels; a JPEG that ends with its
    end-of-image marker is taken as whole (one that does not is decoded to be sure); any other
    format is decoded."""
    p = Path(path)
    try:
        with Image.open(p) as img:
            fmt = img.format
            if fmt == "PNG":
                img.verify()
                return
        if fmt == "JPEG":
            with open(p, "rb") as fh:
                fh.seek(max(0, p.stat().st_size - 1024))
                if fh.read().rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
                    return
    except Exception as exc:  # noqa: BLE001 - every failure becomes one typed error
        raise ImageLoadError(p, _reason(exc, p)) from exc
    load(p, max_pixels=max_pixels)


def load(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode ``path`` to an upright, C-contiguous, writable ``H x W x 3`` uint8 RGB array.

    Raises :class:`ImageLoadError` naming the file and the reason for anything unreadable,
    including images over ``max_pixels`` (checked from the header, before decoding).
    """
    p = Path(path)
    try:
        with Image.open(p) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise ImageLoadError(p, _too_large(w, h, max_pixels))
            img.load()
            orientation = 1 if img.format == "TIFF" and _pillow_orients_tiff() else _exif_orientation(img)
            return _to_rgb_array(img, orientation)
    except ImageLoadError:
        raise
    except Image.UnidentifiedImageError as exc:
        arr = _cv2_fallback(p, max_pixels)
        if arr is None:
            raise ImageLoadError(p, _reason(exc, p)) from exc
        return arr
    except Exception as exc:  # noqa: BLE001 - every decoder failure becomes one typed error
        raise ImageLoadError(p, _reason(exc, p)) from exc


# ----------------------------------------------------------------------------- conversions


def _finish(view: np.ndarray) -> np.ndarray:
    """One copy at most: make ``view`` C-contiguous and writable."""
    out = np.ascontiguousarray(view)
    if not out.flags.writeable:
        out = out.copy()
    return out


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    out = np.empty(grey.shape + (3,), dtype=np.uint8)
    out[...] = grey[..., None]
    return out


def _scale_high_grey(arr: np.ndarray) -> np.ndarray:
    """Integer grey deeper than 8 bits -> uint8 by its significant bit depth (see module doc)."""
    top = int(arr.max(initial=0))
    depth = next((d for d in _STANDARD_DEPTHS if top < (1 << d)), None)
    if depth is None:  # 32-bit integer data beyond 16 bits: min-max scale
        return _minmax(arr)
    a = np.clip(arr, 0, None) if arr.dtype.kind == "i" else arr
    return (a >> (depth - 8)).astype(np.uint8) if depth > 8 else a.astype(np.uint8)


def _minmax(arr: np.ndarray) -> np.ndarray:
    a = arr.astype(np.float64)
    finite = np.isfinite(a)
    if not finite.any():
        return np.zeros(a.shape, np.uint8)
    lo, hi = float(a[finite].min()), float(a[finite].max())
    a = np.where(finite, a, lo)
    return np.clip((a - lo) * (255.0 / ((hi - lo) or 1.0)), 0, 255).astype(np.uint8)


def _composite_white(rgba: np.ndarray) -> np.ndarray:
    """RGBA uint8 -> RGB uint8 over a white background (rounded, exact at alpha 0 and 255)."""
    rgb = rgba[..., :3].astype(np.uint16)
    alpha = rgba[..., 3:4].astype(np.uint16)
    out = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return out.astype(np.uint8)


def _to_rgb_array(img: Image.Image, orientation: int) -> np.ndarray:
    mode = img.mode
    if mode == "RGB":
        return _finish(_orient(np.asarray(img), orientation))
    if mode == "L" and "transparency" not in img.info:
        return _grey_to_rgb(_orient(np.asarray(img), orientation))
    if mode in _GREY_HIGH_MODES:
        arr = np.asarray(img)
        grey = _scale_high_grey(arr)
        trns = img.info.get("transparency")
        if isinstance(trns, int):
            grey[arr == trns] = 255  # the transparent grey value composites to white
        return _grey_to_rgb(_orient(grey, orientation))
    if mode == "F":
        return _grey_to_rgb(_orient(_minmax(np.asarray(img)), orientation))
    if mode == "1":
        return _grey_to_rgb(_orient(np.asarray(img.convert("L")), orientation))
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"))
        return _finish(_orient(_composite_white(rgba), orientation))
    return _finish(_orient(np.asarray(img.convert("RGB")), orientation))  # P, CMYK, YCbCr, LAB, HSV


def _cv2_fallback(path: Path, max_pixels: int) -> np.ndarray | None:
    """Decode with OpenCV when Pillow cannot identify the file; None if OpenCV can't either."""
    import cv2

    try:
        data = np.fromfile(path, dtype=np.uint8)  # handles non-ASCII paths on every OS
    except OSError:
        return None
    if data.size == 0 or bytes(data[:8]).startswith(_PILLOW_NATIVE_MAGIC):
        return None  # Pillow already read these formats' headers: nothing for OpenCV to add
    # ANYDEPTH keeps 16-bit data; no IGNORE_ORIENTATION flag, so OpenCV applies EXIF itself.
    arr = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if arr is None:
        return None
    h, w = arr.shape[:2]
    if w * h > max_pixels:
        raise ImageLoadError(path, _too_large(w, h, max_pixels))
    if arr.dtype != np.uint8:
        if arr.dtype == np.uint16:
            arr = _scale_high_grey(arr) if arr.ndim == 2 else (arr >> 8).astype(np.uint8)
        else:
            arr = _minmax(arr)
    if arr.ndim == 2:
        return _grey_to_rgb(arr)
    if arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
