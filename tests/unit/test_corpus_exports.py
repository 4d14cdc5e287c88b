"""The real exports in ../shared/corpus/exports (see its README), opened as a user would: the
unzipped folder as it is, placeholder images at the sizes the files declare. Each case checks
what its README says a correct importer does, then re-exports and compares field by field."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from layout_fixtures import _by_id, assert_same_coco, header_png

from rnxstudio.data.exchange import export_labels
from rnxstudio.data.project import open_project


def _copy(corpus: Path, case: str, tmp_path: Path) -> Path:
    src = corpus / "exports" / case
    if not src.is_dir():
        pytest.skip(f"corpus case {case} missing from {corpus}")  # a failure while the corpus exists
    dst = tmp_path / case
    shutil.copytree(src, dst)
    return dst


def _coco_images(json_path: Path, image_dir: Path) -> dict:
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    for im in doc["images"]:
        header_png(image_dir / im["file_name"].replace("\\", "/"), im["width"], im["height"])
    return doc


def _boxes(store) -> list:
    return [b for r in store.images() for b in store.boxes(r.id)]


def test_label_studio_coco(corpus, tmp_path):
    d = _copy(corpus, "labelstudio_coco", tmp_path)
    doc = _coco_images(d / "result.json", d)
    with open_project(d) as store:
        assert store.count_images() == 11 and store.count_boxes() == 11
        assert [(c.id, c.name) for c in store.categories()] == [(c["id"], c["name"]) for c in doc["categories"]]
        assert all(r.path.startswith("images/") for r in store.images())
        export_labels(store, "coco", tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text())
    assert_same_coco(doc, out)  # ids from 0, "ignore", float boxes on the border, file names


def test_label_studio_yolo(corpus, tmp_path):
    d = _copy(corpus, "labelstudio_yolo", tmp_path)
    labels = sorted((d / "labels").glob("*.txt"))
    for f in labels:
        header_png(d / "images" / f"{f.stem}.jpg", 512, 512)
    with open_project(d) as store:
        assert [c.name for c in store.categories()] == ["Defect"]
        assert store.count_images() == 30 and store.count_boxes() == 24  # 6 empty files: reviewed, empty
        assert sorted(Path(r.path).stem for r in store.images()) == sorted(f.stem for f in labels)
        for r in store.images():  # 9-field lines (4 corners) read as their bounding box
            text = (d / "labels" / f"{Path(r.path).stem}.txt").read_text().split()
            if text:
                xs, ys = [float(v) * 512 for v in text[1::2]], [float(v) * 512 for v in text[2::2]]
                (box,) = store.boxes(r.id)
                assert box.xyxy == pytest.approx((min(xs), min(ys), max(xs), max(ys)), abs=1e-9)


def test_roboflow_coco_splits(corpus, tmp_path):
    d = _copy(corpus, "roboflow_coco_splits", tmp_path)
    docs = {s: _coco_images(d / s / "_annotations.coco.json", d / s) for s in ("train", "valid", "test")}
    with open_project(d) as store:
        assert Counter(r.split for r in store.images()) == {"train": 18, "val": 5, "test": 2}
        assert [(c.id, c.name) for c in store.categories()] == [(1, "pen")]
        assert store.count_boxes() == sum(len(doc["annotations"]) for doc in docs.values())
        assert {(r.width, r.height) for r in store.images()} == {(3000, 4000), (4000, 3000)}
        export_labels(store, "coco", tmp_path / "out")
    for split, ours in (("train", "train"), ("valid", "val"), ("test", "test")):
        out = json.loads((tmp_path / "out" / "annotations" / f"instances_{ours}.json").read_text())
        assert_same_coco(docs[split], out, file_prefix=f"{split}/")  # per-split ids, "extra", float boxes


def test_roboflow_yolov8(corpus, tmp_path):
    d = _copy(corpus, "roboflow_yolov8", tmp_path)
    for f in d.glob("*/labels/*.txt"):
        header_png(f.parent.parent / "images" / f"{f.stem}.jpg", 640, 640)
    with open_project(d) as store:
        assert [c.name for c in store.categories()] == ["light blue", "dark blue", "others"]
        assert Counter(r.split for r in store.images()) == {"train": 30, "val": 1, "test": 1}
        lines = sum(len(f.read_text().splitlines()) for f in d.glob("*/labels/*.txt"))
        assert store.count_boxes() == lines  # no final newline: the last line still counts
        assert not any("README" in r.path for r in store.images())


def test_cvat_coco(corpus, tmp_path):
    d = _copy(corpus, "cvat_coco", tmp_path)
    doc = _coco_images(d / "annotations" / "instances_default.json", d / "images")
    degenerate = [a["id"] for a in doc["annotations"] if a["bbox"][2] == 0 or a["bbox"][3] == 0]
    with open_project(d) as store:
        assert len(store.categories()) == 23  # 13 without annotations kept
        assert "1 invalid box skipped" in store.meta("layout_import")
        assert "do not match their own polygon" in store.meta("layout_import")  # the file's bboxes are off
        for b in _boxes(store):
            assert set(b.extra["coco"]["attributes"]) == {"Damage location", "Severity", "Recommendation", "occluded"}
        export_labels(store, "coco", tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text())
    # file names are relative to the opened folder (the image root the export reports)
    assert_same_coco(doc, out, file_prefix="images/", skipped=degenerate, clip=True)


def test_labelme2coco(corpus, tmp_path):
    d = _copy(corpus, "labelme2coco", tmp_path)
    doc = _coco_images(d / "annotations.json", d)
    with open_project(d) as store:
        assert [(c.id, c.name) for c in store.categories()] == [(1, "user"), (2, "chat")]
        assert store.count_images() == 24 and store.count_boxes() == 204
        assert all(r.path.startswith("JPEGImages/") for r in store.images())
        export_labels(store, "coco", tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text())
    assert_same_coco(doc, out)  # _background_ written back, null metadata stays null


def test_voc_devkit(corpus, tmp_path):
    d = _copy(corpus, "voc_devkit", tmp_path)
    ann = d / "VOCdevkit" / "VOC2007" / "Annotations"
    flags = Counter()
    for f in ann.glob("*.xml"):
        root = ET.parse(f).getroot()
        header_png(ann.parent / "JPEGImages" / root.findtext("filename"), int(root.findtext("size/width")),
                   int(root.findtext("size/height")))
        for obj in root.iter("object"):
            flags["difficult"] += obj.findtext("difficult") == "1"
            flags["truncated"] += obj.findtext("truncated") == "1"
    assert flags == {"difficult": 68, "truncated": 15}
    with open_project(d) as store:
        assert store.count_images() == 48 and Counter(r.split for r in store.images()) == {"train": 48}
        boxes = _boxes(store)
        assert sum(b.difficult for b in boxes) == 68
        assert sum(b.extra["voc"].get("truncated") == "1" for b in boxes) == 15
        export_labels(store, "voc", tmp_path / "out")
    for f in ann.glob("*.xml"):
        want = ET.parse(f).getroot()
        got = ET.parse(tmp_path / "out" / "VOCdevkit" / "VOC2007" / "JPEGImages" / f.name).getroot()
        for g, w in zip(got.iter("object"), want.iter("object"), strict=True):
            for tag in ("name", "pose", "truncated", "difficult", "bndbox/xmin", "bndbox/ymin", "bndbox/xmax",
                        "bndbox/ymax"):
                assert g.findtext(tag) == w.findtext(tag), (f.name, tag)


def test_coco_crowd_rle(corpus, tmp_path):
    d = _copy(corpus, "coco_crowd_rle", tmp_path)
    doc = _coco_images(d / "annotations" / "instances_train2017.json", d / "images" / "train2017")
    with open_project(d) as store:
        assert store.count_images() == 100 and store.count_boxes() == 161
        crowd = [b for b in _boxes(store) if b.crowd]
        assert sorted(b.extra["coco"]["id"] for b in crowd) == [900100184613, 900100197254, 900100204805,
                                                                900100293802]
        assert sum(1 for r in store.images() if not store.boxes(r.id)) == 57
        ls = store.to_labelset()
        assert sum(len(ls.training_boxes(im)) for im in ls.images) == 157  # crowd regions are no targets
        export_labels(store, "coco", tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text())
    # image/annotation ids, RLE, keypoints, info with "\/", licenses, "type"
    assert_same_coco(doc, out, file_prefix="images/train2017/")
    assert sum(a["iscrowd"] for a in _by_id(out["annotations"]).values()) == 4
