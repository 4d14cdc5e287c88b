"""ml/convert/catalog.py: published entries, offline instructions, and a download (from a local
file:// URL, never the network) with progress and digest check."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from rnxstudio.cli import main
from rnxstudio.ml.convert import catalog
from rnxstudio.ml.convert_weights import converted_checkpoint


def test_entries_name_url_ap_licence_and_digest():
    d2 = catalog.get("d2_faster_rcnn_X_101_32x8d_FPN_3x")
    assert d2.filename == "model_final_68b088.pkl" and d2.box_ap == 43.0 and "CC BY-SA 3.0" in d2.licence and d2.bgr
    mm = catalog.get("mmdet_faster_rcnn_x101_64x4d_fpn_1x")
    assert mm.filename.endswith("-833ee192.pth") and mm.box_ap == 42.1 and mm.sha256_prefix == "833ee192"
    assert catalog.get("mmdet_faster_rcnn_x101_32x8d_fpn_ms3x").bgr  # its Caffe2 backbone wants BGR
    assert len(catalog.coco_class_names()) == 80 and catalog.coco_class_names()[0] == "person"
    with pytest.raises(KeyError, match="unknown published weights"):
        catalog.get("nope")


def test_offline_says_which_file_and_where(capsys):
    entry = catalog.get("mmdet_faster_rcnn_x101_32x4d_fpn_1x")
    with pytest.raises(catalog.WeightsUnavailable) as err:  # conftest: RNXSTUDIO_NO_DOWNLOAD=1
        converted_checkpoint(entry.name)
    assert entry.url in str(err.value) and str(catalog.local_path(entry)) in str(err.value)
    assert main(["weights", "fetch", entry.name]) == 2
    assert entry.url in capsys.readouterr().err


def test_download_with_progress_and_digest_check(tmp_path):
    src = tmp_path / "published.pth"
    src.write_bytes(b"x" * 3_000_000)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    entry = dataclasses.replace(catalog.get("mmdet_faster_rcnn_x101_32x4d_fpn_1x"), url=src.as_uri(),
                                sha256_prefix=digest[:8])
    seen = []
    path = catalog.fetch(entry, allow_download=True, progress=lambda stage, f: seen.append(f))
    assert path == catalog.local_path(entry) and path.read_bytes() == src.read_bytes()
    assert seen and seen[-1] == pytest.approx(1.0)
    path.unlink()
    bad = dataclasses.replace(entry, sha256_prefix="00000000")
    with pytest.raises(ValueError, match="does not start with the published 00000000"):
        catalog.fetch(bad, allow_download=True)
    assert not catalog.local_path(bad).exists() and not list(catalog.weights_dir().glob("*.part"))
