"""COCO -> project -> COCO / VOC / YOLO -> project, exactly: boxes to the bit, and every field a
file had compared field by field (ids, crowd RLE, polygons, attributes, keypoints, licenses...)."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from layout_fixtures import _by_id, assert_same_coco, header_png, roboflow_coco, voc_devkit

from rnxstudio.cli import main
from rnxstudio.data.exchange import export_labels, import_labels
from rnxstudio.data.project import open_project

# ~ a COCO 2017 excerpt + CVAT attributes: crowd RLE, multi-ring polygons, keypoints, licenses
RLE = {"counts": [5, 3, 7, 3, 7, 3, 11 * 12 - 28], "size": [12, 11]}  # 9 pixels in a 3x3 block
RICH = {
    "info": {"description": "This is stable 1.0 version", "url": "http:\\/\\/mscoco.org", "version": "1.0",
             "year": 2014, "contributor": "Microsoft COCO group", "date_created": "2015-01-27 09:11:52.357475"},
    "licenses": [{"url": "http://creativecommons.org/licenses/by-nc-sa/2.0/", "id": 1, "name": "BY-NC-SA"},
                 {"url": "http://creativecommons.org/licenses/by/2.0/", "id": 4, "name": "BY"}],
    "type": "instances",
    "images": [
        {"license": 4, "file_name": "000000391895.jpg", "coco_url": "http://images.cocodataset.org/x.jpg",
         "height": 48, "width": 64, "date_captured": "2013-11-14 11:18:45", "flickr_url": "http://farm9/x.jpg",
         "id": 391895},
        {"license": 1, "file_name": "000000522418.jpg", "coco_url": "", "height": 12, "width": 11,
         "date_captured": "2013-11-14 11:38:44", "flickr_url": "", "id": 522418},
        {"license": 1, "file_name": "000000000009.jpg", "height": 30, "width": 30, "id": 9},  # no boxes
    ],
    "annotations": [
        {"segmentation": [[10.5, 4.25, 30.5, 4.25, 30.5, 20.0, 10.5, 20.0], [40.0, 5.0, 50.0, 5.0, 45.0, 15.0]],
         "num_keypoints": 2, "area": 365.0, "iscrowd": 0, "keypoints": [12, 6, 2, 20, 10, 1] + [0] * 45,
         "image_id": 391895, "bbox": [10.5, 4.25, 39.5, 15.75], "category_id": 1, "id": 202758,
         "attributes": {"occluded": False, "rotation": 0.0, "track_id": 3, "keyframe": True, "note": ""}},
        {"segmentation": RLE, "num_keypoints": 0, "area": 9, "iscrowd": 1, "keypoints": [0] * 51,
         "image_id": 522418, "bbox": [0, 5, 3, 3], "category_id": 1, "id": 900100522418},
        {"segmentation": [], "area": 0.1 * 0.2, "iscrowd": 0, "image_id": 522418, "bbox": [0.1, 0.2, 3.3, 2.2],
         "category_id": 18, "id": 7},
    ],
    "categories": [{"supercategory": "person", "id": 1, "name": "person", "keypoints": ["nose", "left_eye"],
                    "skeleton": [[1, 2]]},
                   {"supercategory": "animal", "id": 18, "name": "dog"},
                   {"supercategory": "animal", "id": 23, "name": "bear"}],  # no boxes: kept
}


@pytest.fixture
def rich(tmp_path) -> Path:
    """The rich COCO file in an MS COCO layout: annotations/instances_val2017.json + images/val2017."""
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(RICH))
    for im in RICH["images"]:
        header_png(root / "images" / "val2017" / im["file_name"], im["width"], im["height"])
    return root


def test_coco_project_coco_field_by_field(rich, tmp_path):
    with open_project(rich) as store:
        assert store.count_boxes() == 3 and store.count_images() == 3
        crowd = [b for r in store.images() for b in store.boxes(r.id) if b.crowd]
        assert len(crowd) == 1 and crowd[0].extra["coco"]["segmentation"] == RLE
        result = export_labels(store, "coco", tmp_path / "out")
    assert "1 crowd region written with iscrowd 1" in result.summary()
    exported = json.loads((tmp_path / "out" / "annotations" / "instances_val.json").read_text())
    assert_same_coco(RICH, exported, file_prefix="images/val2017/")
    # and pycocotools reads it, crowd RLE included
    from pycocotools.coco import COCO

    coco = COCO(str(tmp_path / "out" / "annotations" / "instances_val.json"))
    assert coco.annToMask(coco.loadAnns(900100522418)[0]).sum() == 9


def test_roboflow_splits_round_trip_with_their_own_ids(tmp_path):
    folder = roboflow_coco(tmp_path / "rf")
    with open_project(folder) as store:
        export_labels(store, "coco", tmp_path / "out")
    for split, name in (("train", "train"), ("valid", "val")):
        original = json.loads((folder / split / "_annotations.coco.json").read_text())
        exported = json.loads((tmp_path / "out" / "annotations" / f"instances_{name}.json").read_text())
        assert_same_coco(original, exported, file_prefix=f"{split}/")
        assert exported["categories"][0] == {"id": 0, "name": "objects", "supercategory": "none"}
    assert not (tmp_path / "out" / "annotations" / "instances_test.json").exists()  # no images in test


def test_one_file_export_renumbers_only_colliding_ids(tmp_path):
    folder = roboflow_coco(tmp_path / "rf")
    with open_project(folder) as store:
        result = export_labels(store, "coco", tmp_path / "one.json")
        kept = json.loads((tmp_path / "one.json").read_text())
        ids = [im["id"] for im in kept["images"]]
        assert ids[:2] == [0, 1] and ids[2] not in (0, 1)  # valid's 0 collided with train's 0
        assert "1 image id renumbered (another image already had the id)" in result.summary()
        export_labels(store, "coco", tmp_path / "new.json", keep_ids=False)
    fresh = json.loads((tmp_path / "new.json").read_text())
    assert [im["id"] for im in fresh["images"]] == [1, 2, 3]
    assert [a["id"] for a in fresh["annotations"]] == [1, 2, 3]


def _named(store):
    names = {c.id: c.name for c in store.categories()}
    return {r.path.rsplit("/", 1)[-1]: sorted((names[b.category_id], b.xyxy, b.crowd, b.difficult)
                                              for b in store.boxes(r.id)) for r in store.images()}


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_coco_project_any_format_project_keeps_boxes_exactly(rich, tmp_path, fmt, capsys):
    with open_project(rich) as store:
        before = _named(store)
        cats = [c.name for c in store.categories()]
    out = tmp_path / f"out_{fmt}"
    exact = ["--voc-coords", "float"] if fmt == "voc" else []
    assert main(["export", str(rich), "--format", fmt, "--out", str(out), *exact]) == 0
    text = capsys.readouterr().out
    if fmt != "coco":  # VOC / YOLO cannot hold a crowd region: said, not dropped silently
        assert "1 crowd region not written (the format has no crowd regions)" in text
    # a new project of the same images (COCO / VOC exports do not copy them; YOLO's does)
    fresh = tmp_path / "fresh"
    for im in RICH["images"]:
        header_png(fresh / im["file_name"], im["width"], im["height"])
    assert main(["import", str(fresh), str(out)]) == 0, capsys.readouterr().err
    with open_project(fresh) as again:
        after = _named(again)
        names = [c.name for c in again.categories()]
    assert names == cats  # the class list travels with every format (classes.txt for VOC / YOLO)
    for name, boxes in before.items():
        want = [b for b in boxes if fmt == "coco" or not b[2]]  # VOC / YOLO cannot hold crowd regions
        got = after[name]
        assert len(got) == len(want), name
        for (gn, gb, gc, _gd), (wn, wb, wc, _wd) in zip(got, want):
            assert gn == wn and gc == wc
            tol = 1e-9 if fmt == "yolo" else 0.0  # YOLO stores normalised floats
            assert all(abs(a - b) <= tol * max(1.0, abs(b)) for a, b in zip(gb, wb)), (name, gb, wb)


def test_voc_project_voc_field_by_field(tmp_path):
    folder = voc_devkit(tmp_path)
    xml = folder / "VOCdevkit" / "VOC2007" / "Annotations" / "a.xml"
    tree = ET.parse(xml)  # CVAT-style attributes and an unknown element on one object
    obj = tree.getroot().find("object")
    obj.append(ET.fromstring("<occluded>1</occluded>"))
    obj.append(ET.fromstring("<attributes><attribute><name>rotation</name><value>0.0</value></attribute>"
                             "</attributes>"))
    tree.getroot().append(ET.fromstring("<owner><flickrid>me</flickrid></owner>"))
    tree.write(xml)
    with open_project(folder) as store:
        export_labels(store, "voc", tmp_path / "out", voc_coords="float")  # the fixture has 1.5 px corners
    got = ET.parse(tmp_path / "out" / "VOCdevkit" / "VOC2007" / "JPEGImages" / "a.xml").getroot()
    want = ET.parse(xml).getroot()
    for path in ("size/width", "size/height", "size/depth", "segmented", "source/database", "owner/flickrid"):
        assert got.findtext(path) == want.findtext(path), path
    for g, w in zip(got.findall("object"), want.findall("object"), strict=True):
        for tag in ("name", "pose", "truncated", "difficult", "occluded", "bndbox/xmin", "bndbox/ymin",
                    "bndbox/xmax", "bndbox/ymax", "attributes/attribute/name", "attributes/attribute/value"):
            assert g.findtext(tag) == w.findtext(tag), tag
    assert (tmp_path / "out" / "ImageSets" / "Main" / "train.txt").read_text().splitlines() == [
        "VOCdevkit/VOC2007/JPEGImages/a", "VOCdevkit/VOC2007/JPEGImages/b"]
    fresh = tmp_path / "fresh"  # our own export reads back, splits and flags too
    for p in (folder / "VOCdevkit" / "VOC2007" / "JPEGImages").iterdir():
        header_png(fresh / p.name, *{"a": (64, 48), "b": (50, 40), "c": (40, 60)}[p.stem])
    with open_project(fresh) as again:
        report = import_labels(again, tmp_path / "out")
        assert report.added_boxes == 3 and report.splits == {"train": 2, "val": 1}
        assert sorted(r.split for r in again.images()) == ["train", "train", "val"]
        assert sum(b.difficult for r in again.images() for b in again.boxes(r.id)) == 1


def test_yolo_project_yolo_keeps_every_label_line(tmp_path):
    from layout_fixtures import roboflow_yolo

    folder = roboflow_yolo(tmp_path / "rf")
    with open_project(folder) as store:
        export_labels(store, "yolo", tmp_path / "out")
    for split, ours in (("train", "train"), ("valid", "val")):
        for f in (folder / split / "labels").glob("*.txt"):
            want = [[float(v) for v in ln.split()] for ln in f.read_text().splitlines()]
            got = [[float(v) for v in ln.split()] for ln in
                   (tmp_path / "out" / "labels" / ours / f.name).read_text().splitlines()]
            assert len(got) == len(want)
            for g, w in zip(got, want):
                assert g[0] == w[0] and all(abs(a - b) <= 1e-12 for a, b in zip(g[1:], w[1:]))


def test_edited_box_marks_its_polygon_stale(rich, tmp_path):
    from dataclasses import replace

    with open_project(rich) as store:
        first = next(r for r in store.images() if r.path.endswith("391895.jpg"))
        (box,) = store.boxes(first.id)
        store.update_box(replace(box, x2=box.x2 + 2))  # the user widens the box
        result = export_labels(store, "coco", tmp_path / "out.json")
    assert "1 segmentation polygon stale: the box was edited after import" in result.summary()
    ann = _by_id(json.loads((tmp_path / "out.json").read_text())["annotations"])[202758]
    assert ann["bbox"] == [10.5, 4.25, 41.5, 15.75] and ann["segmentation"] == RICH["annotations"][0]["segmentation"]
    assert ann["area"] == 365.0  # the polygon's area (the box edit did not change the polygon)


def test_area_is_the_polygon_area_when_the_file_has_none(tmp_path):
    from rnxstudio.data.coco import read_coco, write_coco

    doc = copy.deepcopy(RICH)
    del doc["annotations"][0]["area"]
    (tmp_path / "c.json").write_text(json.dumps(doc))
    write_coco(read_coco(tmp_path / "c.json"), tmp_path / "d.json")
    ann = _by_id(json.loads((tmp_path / "d.json").read_text())["annotations"])[202758]
    assert ann["area"] == 20 * 15.75 + 50.0  # shoelace: rectangle + triangle


def test_clipping_is_reported(tmp_path, capsys):
    folder = tmp_path / "imgs"
    header_png(folder / "a.png", 100, 50)
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 50}],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [90, 10, 20, 10]},  # 10 px over
                           {"id": 2, "image_id": 1, "category_id": 1, "bbox": [-0.5, 1, 10, 10]},
                           {"id": 3, "image_id": 1, "category_id": 1, "bbox": [80, 30, 10, 60]},  # 40 of 60 over
                           {"id": 4, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}]}
    (tmp_path / "l.json").write_text(json.dumps(doc))
    assert main(["import", str(folder), str(tmp_path / "l.json")]) == 0
    captured = capsys.readouterr()
    assert "3 boxes clipped to the image (by up to 40 px; 1 overhung by more than half their size)" in captured.out
    assert "a.png: box (80.0, 30.0, 90.0, 90.0) overhangs the 100x50 image by 40 px" in captured.err


def test_summaries_count_what_they_mean(tmp_path, capsys):
    folder = tmp_path / "imgs"
    header_png(folder / "a.png", 100, 50)
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 50},
                      {"id": 2, "file_name": "gone1.png", "width": 100, "height": 50},
                      {"id": 3, "file_name": "gone2.png", "width": 100, "height": 50}],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": k, "image_id": 1 + (k > 1) + (k > 20), "category_id": 1, "bbox": [1, 1, 5, 5]}
                           for k in range(1, 31)]}
    (tmp_path / "l.json").write_text(json.dumps(doc))
    assert main(["import", str(folder), str(tmp_path / "l.json")]) == 0
    out = capsys.readouterr().out
    assert "1 box added on 1 image; 1 new category (x); 29 boxes skipped on 2 files not in the project" in out


def test_imported_fields_survive_a_project_reopen(rich):
    with open_project(rich) as store:
        path = store.path
    from rnxstudio.data.store import ProjectStore

    with ProjectStore.open(path) as store:
        ls = store.to_labelset()
        assert ls.info == RICH["info"] and ls.licenses == RICH["licenses"]
        assert ls.extra["coco"]["type"] == "instances"
        assert ls.categories[0].extra["coco"]["skeleton"] == [[1, 2]]
        im = next(r for r in ls.images if r.path.endswith("391895.jpg"))
        assert im.extra["coco"]["coco_url"] == RICH["images"][0]["coco_url"] and im.split == "val"


def test_reimporting_our_own_coco_export_adds_nothing(rich, tmp_path):
    with open_project(rich) as store:
        export_labels(store, "coco", tmp_path / "again.json")
        report = import_labels(store, tmp_path / "again.json")
        assert report.added_boxes == 0 and report.duplicate_boxes == 3
