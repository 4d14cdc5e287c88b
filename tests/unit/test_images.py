"""images.load / read_size: the shared corpus per its README table, plus generated edge cases."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from rnxstudio.data.images import ImageLoadError, load, read_size

LOADS = [
    "hopper.jpg", "hopper.png", "hopper.webp", "hopper.bmp", "hopper.tif", "hopper.ppm", "flower.jpg",
    "hopper_gray.jpg", "l_trns.png", "hopper_16bit.pgm", "i_trns.png", "16bit.cropped.tif",
    "apng_mode_16bit.png", "apng_mode_grayscale_alpha.png", "apng_mode_palette_alpha.png", "pal8rletrns.png",
    "p_16.png", "pil123rgba.png", "hopper_16bit_qtables.jpg", "hopper_bad_exif.jpg", "broken_exif_dpi.jpg",
    "exif-dpi-zerodivision.jpg", "exif_imagemagick_orientation.png",
    *(f"hopper_orientation_{i}.jpg" for i in range(2, 9)),
]
FAILS = {
    "broken.png": "not an image file",
    "broken_data_stream.png": "damaged image data",
    "decompression_bomb.gif": "too large",
}
# Pillow's transpose that turns the upright image into the stored one, per EXIF orientation
_STORE_OP = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _check_array(arr: np.ndarray) -> None:
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    assert arr.flags.c_contiguous and arr.flags.writeable


@pytest.mark.parametrize("name", LOADS)
def test_corpus_file_loads(corpus, name):
    path = corpus / "images" / "odd" / name
    arr = load(path)
    _check_array(arr)
    assert read_size(path) == (arr.shape[1], arr.shape[0])
    assert arr.std() > 5  # real picture content, not a blank or black frame


@pytest.mark.parametrize("name", sorted(FAILS))
def test_corpus_file_refused_with_clear_error(corpus, name):
    path = corpus / "images" / "odd" / name
    with pytest.raises(ImageLoadError) as ei:
        load(path)
    assert ei.value.path == str(path)
    assert FAILS[name] in ei.value.reason
    assert str(path) in str(ei.value)


def test_global_pillow_settings_untouched(corpus):
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    for name in [*LOADS[:3], *FAILS]:
        try:
            load(corpus / "images" / "odd" / name)
        except ImageLoadError:
            pass
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before == (before[0], False)


def test_decompression_bomb_does_not_allocate(corpus):
    code = (
        "import resource, json, sys\n"
        "from rnxstudio.data.images import load, read_size, ImageLoadError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "errs = []\n"
        "for f in (load, read_size):\n"
        "    try:\n"
        "        f(sys.argv[1])\n"
        "    except ImageLoadError as e:\n"
        "        errs.append(e.reason)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'grow_kb': after - before, 'errs': errs}))\n"
    )
    bomb = corpus / "images" / "odd" / "decompression_bomb.gif"
    out = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["errs"]) == 2 and all("too large" in e for e in result["errs"])
    assert result["grow_kb"] < 50_000  # decoding 4.3 GP would need > 4 GB


def test_own_pixel_limit_refuses_from_header(tmp_path):
    p = tmp_path / "big.png"
    Image.new("RGB", (400, 300)).save(p)
    with pytest.raises(ImageLoadError, match="over the 0.1 MP limit"):
        load(p, max_pixels=100_000)
    with pytest.raises(ImageLoadError, match="limit"):
        read_size(p, max_pixels=100_000)
    assert load(p, max_pixels=120_000).shape == (300, 400, 3)


def _downscaled(arr: np.ndarray) -> np.ndarray:
    return cv2.resize(arr, (arr.shape[1] // 10, arr.shape[0] // 10), interpolation=cv2.INTER_AREA).astype(float)


@pytest.mark.parametrize("kind,size", [("Landscape", (1800, 1200)), ("Portrait", (1200, 1800))])
def test_exif_sets_identical_upright(corpus, kind, size):
    ref = None
    for i in range(9):
        path = corpus / "images" / "exif" / f"{kind}_{i}.jpg"
        assert read_size(path) == size
        arr = load(path)
        assert (arr.shape[1], arr.shape[0]) == size
        small = _downscaled(arr)
        if ref is None:
            ref = small
            # the check can fail: a mirrored image is far from the reference
            assert np.abs(small[:, ::-1] - ref).mean() > 20
        assert np.abs(small - ref).mean() < 6, f"{kind}_{i}"


def test_hopper_orientations_match_plain(corpus):
    ref = load(corpus / "images" / "odd" / "hopper.jpg").astype(float)
    for i in range(2, 9):
        arr = load(corpus / "images" / "odd" / f"hopper_orientation_{i}.jpg").astype(float)
        assert np.abs(arr - ref).mean() < 8, i


def test_16bit_grey_scaled_not_black(corpus):
    odd = corpus / "images" / "odd"
    full = load(odd / "hopper_16bit.pgm").astype(float)
    grey = load(odd / "hopper_gray.jpg").astype(float)
    assert np.abs(full - grey).mean() < 4  # full-range 16-bit: high byte
    low = load(odd / "16bit.cropped.tif")  # 10-bit data in a 16-bit container
    assert low.max() > 128 and low.std() > 5
    assert (low[..., 0] == low[..., 1]).all() and (low[..., 1] == low[..., 2]).all()


def _upright_pattern(w: int = 40, h: int = 24) -> np.ndarray:
    rng = np.random.default_rng(7)
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    arr[:4, :4] = (255, 0, 0)  # a marker in the top-left corner
    return arr


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_all_orientations_exact(tmp_path, orientation, fmt):
    upright = _upright_pattern()
    stored = Image.fromarray(upright)
    if orientation in _STORE_OP:
        stored = stored.transpose(_STORE_OP[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / f"o{orientation}.{fmt.lower()}"
    kw = {"lossless": True} if fmt == "WEBP" else {}
    stored.save(p, fmt, exif=exif.tobytes(), **kw)
    assert read_size(p) == (40, 24)
    np.testing.assert_array_equal(load(p), upright)


def _png_with_exif_after_idat(upright: np.ndarray, orientation: int) -> bytes:
    stored = Image.fromarray(upright).transpose(_STORE_OP[orientation])
    buf = io.BytesIO()
    stored.save(buf, "PNG")
    data = buf.getvalue()
    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = exif.tobytes()
    chunk = struct.pack(">I", len(payload)) + b"eXIf" + payload
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + payload) & 0xFFFFFFFF)
    iend = data.rindex(b"IEND") - 4
    return data[:iend] + chunk + data[iend:]


def test_png_exif_after_pixel_data(tmp_path):
    upright = _upright_pattern()
    p = tmp_path / "late_exif.png"
    p.write_bytes(_png_with_exif_after_idat(upright, 6))
    assert read_size(p) == (40, 24)
    np.testing.assert_array_equal(load(p), upright)


def test_damaged_exif_ignored(tmp_path):
    p = tmp_path / "bad_exif.jpg"
    Image.fromarray(_upright_pattern()).save(p, quality=95)
    data = p.read_bytes()
    junk = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff\x01\x12\x00\x03"  # IFD claims 65535 entries
    app1 = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
    p.write_bytes(data[:2] + app1 + data[2:])
    assert load(p).shape == (24, 40, 3)
    assert read_size(p) == (40, 24)


def test_alpha_composited_over_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)
    rgba[0, 1] = (10, 20, 30, 0)
    p = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(p)
    arr = load(p)
    assert tuple(arr[0, 0]) == (10, 20, 30) and tuple(arr[0, 1]) == (255, 255, 255)


def test_cmyk_jpeg(tmp_path):
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[:, :16] = (200, 30, 30)
    rgb[:, 16:32] = (30, 200, 30)
    rgb[:, 32:] = (30, 30, 200)
    p = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(p, quality=95)
    assert Image.open(p).mode == "CMYK"
    arr = load(p)
    _check_array(arr)
    assert np.abs(arr.astype(int) - rgb).mean() < 10


def test_16bit_colour_png_and_tiff(tmp_path):
    rng = np.random.default_rng(1)
    bgr16 = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    expected = (bgr16[..., ::-1] >> 8).astype(np.uint8)
    for ext in (".png", ".tif"):
        p = tmp_path / f"rgb16{ext}"
        assert cv2.imwrite(str(p), bgr16)
        np.testing.assert_array_equal(load(p), expected)
    p = tmp_path / "rgba16.png"
    bgra16 = np.dstack([bgr16, np.full((20, 30), 65535, np.uint16)])
    assert cv2.imwrite(str(p), bgra16)
    np.testing.assert_array_equal(load(p), expected)


def test_12bit_grey_png_uses_significant_depth(tmp_path):
    grey = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 64)  # 0..4032 -> 12-bit data
    p = tmp_path / "g12.png"
    assert cv2.imwrite(str(p), grey)
    arr = load(p)
    np.testing.assert_array_equal(arr[..., 0], (grey >> 4).astype(np.uint8))


@pytest.mark.parametrize("name", ["bild_ü.png", "日本語の画像.jpg", "photo 😀.webp", "Ελληνικά.tif"])
def test_non_ascii_paths(tmp_path, name):
    folder = tmp_path / "dossier_été"
    folder.mkdir()
    p = folder / name
    Image.fromarray(_upright_pattern()).save(p, **({"lossless": True} if name.endswith("webp") else {}))
    assert load(p).shape == (24, 40, 3)
    assert read_size(p) == (40, 24)


def test_bad_files_give_one_typed_error(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture\n" * 10)
    cases = {empty: "empty file", text: "not an image file", tmp_path / "missing.png": "file not found",
             tmp_path: "folder"}
    for path, fragment in cases.items():
        for fn in (load, read_size):
            with pytest.raises(ImageLoadError) as ei:
                fn(path)
            assert fragment in ei.value.reason, (path, fn, ei.value.reason)
            assert ei.value.path == str(path)


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_truncated_files_refused_but_size_readable(tmp_path, ext):
    p = tmp_path / f"cut{ext}"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    assert read_size(p) == (160, 120)  # header only: no decode
    with pytest.raises(ImageLoadError, match="truncated|damaged"):
        load(p)
