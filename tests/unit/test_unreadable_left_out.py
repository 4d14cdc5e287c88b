"""Issue 15, item 4: an image whose header reads (a 128x128 PNG) but whose pixels do not decode
is left out of every export format and of the training snapshot, and the summary says how many.

Written against the data-layer API that the pre-formats main (6fff719) also had: there the
broken PNG was exported as a 128x128 image with its box; so it was on 2765c21 too whenever the
image had not been shown in the GUI (no error recorded yet)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rnxstudio.core.model import Box, ImageStatus
from rnxstudio.data.exchange import export_labels
from rnxstudio.data.project import open_project
from rnxstudio.data.snapshot import write_snapshot


def make_folder(folder: Path) -> None:
    folder.mkdir()
    img = np.zeros((128, 128, 3), np.uint8)
    img[20:60, 20:60] = 255
    Image.fromarray(img).save(folder / "good.png")
    whole = (folder / "good.png").read_bytes()
    (folder / "broken.png").write_bytes(whole[:70])  # the header survives, the pixel data does not


@pytest.fixture
def store(tmp_path):
    make_folder(tmp_path / "photos")
    s = open_project(str(tmp_path / "photos"))
    cat = s.add_category("thing")
    for r in s.images():
        if r.width <= 0:
            s.set_image_size(r.id, 128, 128)  # what the header says
        s.add_box(Box(10, 10, 50, 50, cat.id, image_id=r.id))
        s.set_status(r.id, ImageStatus.VERIFIED)
    yield s
    s.close()


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_an_unreadable_image_is_left_out_of_every_export_and_counted(store, tmp_path, fmt):
    out = tmp_path / f"out-{fmt}"
    result = export_labels(store, fmt, out)
    assert result.images == 1 and result.boxes == 1
    assert len(result.skipped) == 1 and "broken.png" in result.skipped[0]
    assert "1 unreadable image left out" in result.summary()
    written = " ".join(p.read_text() for p in out.rglob("*") if p.suffix in (".json", ".xml", ".txt", ".yaml"))
    assert "broken" not in written
    if fmt == "coco":
        data = json.loads((out / "annotations.json").read_text())
        assert [i["file_name"] for i in data["images"]] == ["good.png"]


def test_an_unreadable_image_is_never_training_data(store, tmp_path):
    snap = write_snapshot(store, tmp_path / "run", selection="verified")
    data = json.loads(Path(snap.coco).read_text())
    assert [i["file_name"] for i in data["images"]] == ["good.png"]
    assert snap.images == 1 and "1 unreadable image left out" in snap.summary()
