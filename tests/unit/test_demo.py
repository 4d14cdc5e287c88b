import hashlib
import json

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from rnxstudio.data.demo import CLASSES, SHAPES, Shape, _draw, ensure_demo, make_shapes_dataset, make_shapes_video


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes(tmp_path):
    a = make_shapes_dataset(12, 96, seed=7, out_dir=tmp_path / "a")
    b = make_shapes_dataset(12, 96, seed=7, out_dir=tmp_path / "b")
    assert a == b
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    c = make_shapes_dataset(12, 96, seed=8)
    assert c["annotations"] != a["annotations"]


def test_valid_coco_boxes_inside_every_class_present(tmp_path):
    coco = make_shapes_dataset(40, (160, 120), seed=3, out_dir=tmp_path)
    api = COCO(str(tmp_path / "annotations.json"))
    assert len(api.getImgIds()) == 40
    assert {c["name"] for c in api.loadCats(api.getCatIds())} == set(CLASSES)
    present = {a["category_id"] for a in coco["annotations"]}
    assert present == set(range(1, len(CLASSES) + 1))
    for ann in coco["annotations"]:
        x, y, w, h = ann["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 160 + 1e-6 and y + h <= 120 + 1e-6
        assert w >= 4 and h >= 4
    empty = [img for img in coco["images"] if not api.getAnnIds(imgIds=[img["id"]])]
    assert empty, "a few images must be empty (negatives)"
    sizes = [max(a["bbox"][2], a["bbox"][3]) for a in coco["annotations"]]
    assert min(sizes) < 40 and max(sizes) > 50


@pytest.mark.parametrize("cls", range(len(SHAPES)))
def test_box_is_tight_around_drawn_pixels(cls):
    """bbox() of every shape class matches the pixels _draw() paints, within 2 px (OpenCV anti-aliasing bleeds up to a pixel)."""
    for angle in (0.0, 37.0, 101.0):
        s = Shape(cls=cls, cx=64.3, cy=60.7, size=50.0, angle=angle, color=(255, 255, 255))
        canvas = np.zeros((128, 128, 3), np.uint8)
        _draw(canvas, s)
        ys, xs = np.nonzero(canvas[..., 0] > 127)
        x1, y1, x2, y2 = s.bbox(128, 128)
        assert abs(xs.min() - x1) <= 2.0 and abs(xs.max() + 1 - x2) <= 2.0
        assert abs(ys.min() - y1) <= 2.0 and abs(ys.max() + 1 - y2) <= 2.0


def test_video_frames_match_ground_truth(tmp_path):
    coco = make_shapes_video(tmp_path / "v.avi", n_frames=30, size=(160, 120), seed=2)
    cap = cv2.VideoCapture(str(tmp_path / "v.avi"))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (120, 160, 3)
        n += 1
    assert n == 30 == len(coco["images"])
    per_frame = {}
    for a in coco["annotations"]:
        per_frame[a["image_id"]] = per_frame.get(a["image_id"], 0) + 1
    assert set(per_frame.values()) == {4}
    assert json.loads((tmp_path / "v.json").read_text())["images"][5]["frame_index"] == 5


def test_ensure_demo_is_idempotent(tmp_path):
    images = ensure_demo(tmp_path, n_images=6, size=96)
    first = _digest(images)
    assert ensure_demo(tmp_path, n_images=6, size=96) == images
    assert _digest(images) == first
    assert (tmp_path / "video" / "shapes.avi").stat().st_size > 0
    assert np.all([p.suffix in (".png", ".json") for p in images.iterdir()])
