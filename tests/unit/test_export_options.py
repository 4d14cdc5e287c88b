"""Exports users can use directly: YOLO datasets with their images, splits as folders, whole-pixel
VOC, a new folder by default, no silent overwrite, unreadable images left out and counted."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest
from layout_fixtures import IMAGES, header_png, roboflow_coco

from rnxstudio.cli import main
from rnxstudio.core.model import Box, ImageStatus
from rnxstudio.data.exchange import default_export_dir, export_conflicts, export_labels
from rnxstudio.data.project import open_project
from rnxstudio.data.yolo_yaml import labels_dir_for, split_sources


@pytest.fixture
def project(tmp_path):
    """An image folder with two labelled images, one unlabelled and one unreadable file."""
    folder = tmp_path / "shots"
    for stem, w, h, _b in IMAGES:
        header_png(folder / f"{stem}.png", w, h)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    with open_project(folder) as store:
        cat = store.add_category("cat")
        ids = {store.image(i).path: i for i in store.image_ids()}
        for name, box in (("a.png", (1.4, 2.6, 20.5, 10.49)), ("c.png", (0, 0, 40, 60))):
            store.set_image_size(ids[name], *next((w, h) for s, w, h, _ in IMAGES if f"{s}.png" == name))
            store.add_box(Box(*box, cat.id, image_id=ids[name]))
    return folder


def _yolo_dataset_is_valid(out):
    """What Ultralytics does with our data.yaml: resolve each split folder, labels beside images."""
    text = (out / "data.yaml").read_text()
    sources, missing = split_sources(out / "data.yaml", text)
    assert not missing and sources
    for s in sources:
        assert s.images.is_dir() and s.labels == labels_dir_for(s.images)
        for img in s.images.rglob("*.png"):
            label = s.labels / img.relative_to(s.images).with_suffix(".txt")
            assert label.is_file(), label
    return sources


def test_yolo_export_copies_images_so_data_yaml_is_valid(project, tmp_path, capsys):
    out = tmp_path / "yolo"
    assert main(["export", str(project), "--format", "yolo", "--out", str(out)]) == 0
    summary = capsys.readouterr()
    assert "exported 3 images, 2 boxes, 1 category as yolo" in summary.out
    assert "1 unreadable image left out" in summary.out and "broken.png" in summary.err
    sources = _yolo_dataset_is_valid(out)
    assert [s.split for s in sources] == [None]  # one folder for train and val: no split of its own
    assert sorted(p.name for p in (out / "images").iterdir()) == ["a.png", "b.png", "c.png"]
    assert not (out / "images" / "a.png").is_symlink()
    assert "path: " + json.dumps(str(out.resolve())) in (out / "data.yaml").read_text()


def test_yolo_export_links_on_request(project, tmp_path):
    with open_project(project) as store:
        export_labels(store, "yolo", tmp_path / "linked", yolo_images="link")
    a = tmp_path / "linked" / "images" / "a.png"
    assert a.is_symlink() and os.path.samefile(a, project / "a.png")


def test_splits_are_exported_as_folders(tmp_path, capsys):
    folder = roboflow_coco(tmp_path / "rf")
    out = tmp_path / "yolo"
    assert main(["export", str(folder), "--format", "yolo", "--out", str(out)]) == 0
    sources = _yolo_dataset_is_valid(out)
    assert {s.split: sorted(p.name for p in s.images.iterdir()) for s in sources} == {
        "train": [f"a_jpg.rf.{0:032x}.jpg", f"b_jpg.rf.{1:032x}.jpg"], "val": [f"c_jpg.rf.{0:032x}.jpg"]}
    assert (out / "labels" / "val" / f"c_jpg.rf.{0:032x}.txt").read_text().count("\n") == 1
    assert main(["export", str(folder), "--format", "yolo", "--out", str(tmp_path / "flat"), "--no-splits"]) == 0
    assert sorted(p.parent.name for p in (tmp_path / "flat" / "images").rglob("*.jpg")) == ["train", "train", "valid"]


def test_voc_export_is_whole_pixels_by_default(project, tmp_path, capsys):
    assert main(["export", str(project), "--format", "voc", "--out", str(tmp_path / "voc")]) == 0
    bb = ET.parse(tmp_path / "voc" / "a.xml").getroot().find("object/bndbox")
    assert [bb.findtext(t) for t in ("xmin", "ymin", "xmax", "ymax")] == ["1", "3", "21", "10"]
    assert main(["export", str(project), "--format", "voc", "--out", str(tmp_path / "f"), "--voc-coords", "float"]) == 0
    bb = ET.parse(tmp_path / "f" / "a.xml").getroot().find("object/bndbox")
    assert [bb.findtext(t) for t in ("xmin", "ymin", "xmax", "ymax")] == ["1.4", "2.6", "20.5", "10.49"]
    assert main(["export", str(project), "--format", "voc", "--out", str(tmp_path / "p"), "--one-based"]) == 0
    bb = ET.parse(tmp_path / "p" / "a.xml").getroot().find("object/bndbox")
    assert [bb.findtext(t) for t in ("xmin", "ymin", "xmax", "ymax")] == ["2", "4", "21", "10"]


def test_default_folder_is_new_and_beside_the_images(project, tmp_path, capsys):
    with open_project(project) as store:
        first = default_export_dir(store, "coco")
        assert first == tmp_path / "shots-coco" and not first.exists()
    assert main(["export", str(project)]) == 0  # no --out: the new folder
    assert (tmp_path / "shots-coco" / "annotations.json").is_file()
    assert not (project / "annotations.json").exists()  # never into the image folder
    with open_project(project) as store:
        assert default_export_dir(store, "coco") == tmp_path / "shots-coco-2"
    assert main(["export", str(project)]) == 0
    assert (tmp_path / "shots-coco-2" / "annotations.json").is_file()


def test_existing_label_files_are_not_overwritten_without_force(project, tmp_path, capsys):
    for fmt in ("coco", "voc", "yolo"):
        out = tmp_path / f"out-{fmt}"
        assert export_conflicts(fmt, out) == []
        assert main(["export", str(project), "--format", fmt, "--out", str(out)]) == 0
        assert export_conflicts(fmt, out)
        before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        capsys.readouterr()
        assert main(["export", str(project), "--format", fmt, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "already holds label files" in err and "--force" in err and len(err.strip().splitlines()) == 1
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
        assert main(["export", str(project), "--format", fmt, "--out", str(out), "--force"]) == 0
    assert export_conflicts("coco", tmp_path / "x.json") == []
    (tmp_path / "x.json").write_text("{}")
    assert export_conflicts("coco", tmp_path / "x.json") == [tmp_path / "x.json"]


def test_unreadable_images_are_left_out_of_exports_and_training_snapshots(project, tmp_path):
    from rnxstudio.data.snapshot import write_snapshot

    with open_project(project) as store:
        ids = {store.image(i).path: i for i in store.image_ids()}
        store.set_image_error(ids["c.png"], "decode failed: truncated file")  # the GUI could not read it
        for path in ("a.png", "c.png", "broken.png"):
            store.set_status(ids[path], ImageStatus.VERIFIED)
        result = export_labels(store, "coco", tmp_path / "o.json")
        assert result.images == 2 and len(result.skipped) == 2 and "2 unreadable images left out" in result.summary()
        names = [im["file_name"] for im in json.loads((tmp_path / "o.json").read_text())["images"]]
        assert names == ["a.png", "b.png"]
        snap = write_snapshot(store, tmp_path / "run")
        assert snap.images == 1 and len(snap.skipped) == 2  # only a.png is verified and readable
        assert snap.summary().endswith("(2 unreadable images left out)")


def test_crowd_regions_are_never_training_targets_and_difficult_boxes_not_scored(tmp_path):
    from rnxstudio.core.model import Category, ImageRecord, LabelSet
    from rnxstudio.ml.evaluate import evaluate
    from rnxstudio.ml.train_data import from_labelset

    im = ImageRecord("a.png", id=1, width=100, height=100)
    ls = LabelSet(categories=[Category(1, "p")], images=[im], boxes={1: [
        Box(10, 10, 30, 30, 1, image_id=1), Box(50, 50, 90, 90, 1, image_id=1, crowd=True),
        Box(0, 60, 20, 80, 1, image_id=1, difficult=True)]})
    data = from_labelset(ls, tmp_path)
    assert data.samples[0].boxes.tolist() == [[10, 10, 30, 30], [0, 60, 20, 80]]  # the crowd region is no target
    dets = {1: [Box(10, 10, 30, 30, 1, score=0.9), Box(55, 55, 70, 70, 1, score=0.8),  # inside the crowd
                Box(0, 60, 20, 80, 1, score=0.7)]}  # on the difficult box
    result = evaluate(ls, dets)
    assert result.per_image[1].tp == 1 and result.per_image[1].fp == 0 and result.per_image[1].fn == 0
    assert result.metrics["AP50"] == pytest.approx(1.0)
    missed = evaluate(ls, {1: [Box(10, 10, 30, 30, 1, score=0.9)]})  # nothing on the ignored regions
    assert missed.per_image[1].fn == 0 and missed.metrics["AP50"] == pytest.approx(1.0)


def test_training_snapshot_carries_what_evaluation_ignores(project, tmp_path):
    """The GUI trains from a COCO snapshot: crowd regions stay out of the targets and, with the
    difficult boxes, out of the validation score (rnxstudio eval on a project goes the same way)."""
    from rnxstudio.data.snapshot import write_snapshot
    from rnxstudio.ml.evaluate import evaluate
    from rnxstudio.ml.train_data import from_labelset, load_coco
    from rnxstudio.ml.train_state import val_ground_truth

    with open_project(project) as store:
        cat = store.categories()[0].id
        a = store.image_ids(search="a.png")[0]
        store.add_box(Box(30, 20, 60, 45, cat, image_id=a, crowd=True))
        store.add_box(Box(40, 2, 60, 12, cat, image_id=a, difficult=True))
        store.set_status(a, ImageStatus.VERIFIED)
        snap = write_snapshot(store, tmp_path / "run")
        from_project = from_labelset(store.to_labelset(image_ids=[a]))
    for data in (load_coco(snap.coco, snap.image_root), from_project):
        (sample,) = [s for s in data.samples if s.path.endswith("a.png")]
        assert sample.boxes.ravel().tolist() == pytest.approx([1.4, 2.6, 20.5, 10.49, 40, 2, 60, 12])
        assert sample.difficult.tolist() == [False, True] and len(sample.crowd) == 1
        idx = [data.samples.index(sample)]
        gt = val_ground_truth(data, idx)
        found = {sample.image_id: [Box(1.4, 2.6, 20.5, 10.49, data.category_ids[0], score=0.9),
                                   Box(35, 25, 50, 40, data.category_ids[0], score=0.8)]}  # inside the crowd
        result = evaluate(gt, found)
        assert (result.per_image[sample.image_id].fp, result.per_image[sample.image_id].fn) == (0, 0)
        assert result.metrics["AP50"] == pytest.approx(1.0)
