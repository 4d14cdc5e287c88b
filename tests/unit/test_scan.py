"""Folder scan: natural order, hidden files skipped, recursion, content sniffing."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from rnxstudio.data.demo import make_shapes_video
from rnxstudio.data.scan import VIDEO_EXTENSIONS, is_image, is_video, natural_key, scan_folder, sniff_kind


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_natural_order_case_insensitive():
    names = ["img10.png", "IMG2.png", "img1.png", "img01.png", "b.png", "A.png", "img2b.png"]
    assert sorted(names, key=natural_key) == ["A.png", "b.png", "img01.png", "img1.png", "IMG2.png",
                                              "img2b.png", "img10.png"]
    assert sorted(["dir10/a", "dir2/b", "dir2/a"], key=natural_key) == ["dir2/a", "dir2/b", "dir10/a"]


def test_scan_lists_images_only_in_natural_order(tmp_path):
    for name in ["img10.JPG", "img2.png", "img1.webp", "notes.txt", "clip.mp4", "noext", ".hidden.png",
                 "x.tiff"]:
        _touch(tmp_path / name)
    _touch(tmp_path / "sub" / "img3.png")
    _touch(tmp_path / ".cache" / "img4.png")
    (tmp_path / "folder.png").mkdir()  # a folder with an image-like name is not an image
    assert scan_folder(tmp_path) == ["img1.webp", "img2.png", "img10.JPG", "x.tiff"]
    assert scan_folder(tmp_path, recursive=True) == ["img1.webp", "img2.png", "img10.JPG", "sub/img3.png",
                                                     "x.tiff"]
    assert scan_folder(tmp_path, extensions=VIDEO_EXTENSIONS) == ["clip.mp4"]


def test_scan_non_ascii_and_symlink_loop(tmp_path):
    _touch(tmp_path / "été" / "bild_ü.png")
    try:
        os.symlink(tmp_path, tmp_path / "été" / "loop")
    except OSError:
        pytest.skip("symlinks not available")
    assert scan_folder(tmp_path, recursive=True) == ["été/bild_ü.png"]


def test_scan_bad_root(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan_folder(tmp_path / "absent")
    _touch(tmp_path / "f.png")
    with pytest.raises(NotADirectoryError):
        scan_folder(tmp_path / "f.png")


def test_sniff_kind(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    for fmt in ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF", "PPM"):
        p = tmp_path / f"pic_{fmt}.bin"  # extension says nothing
        Image.fromarray(img).save(p, fmt)
        assert sniff_kind(p) == "image", fmt
        assert is_image(p) and not is_video(p)
    vid = tmp_path / "movie.bin"
    make_shapes_video(tmp_path / "m.avi", n_frames=3, size=(32, 32))
    vid.write_bytes((tmp_path / "m.avi").read_bytes())
    assert sniff_kind(vid) == "video" and is_video(vid) and not is_image(vid)
    mp4 = tmp_path / "x.bin"
    mp4.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 40)
    assert sniff_kind(mp4) == "video"
    heic = tmp_path / "y.bin"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 40)
    assert sniff_kind(heic) == "image"
    text = tmp_path / "t.bin"
    text.write_text("hello world")
    assert sniff_kind(text) is None and not is_video(text) and not is_image(text)
    assert sniff_kind(tmp_path / "absent") is None
    # extensions win when they are known
    assert is_video(tmp_path / "whatever.MKV") and is_image(tmp_path / "whatever.Jpeg")
