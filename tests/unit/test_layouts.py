"""Real export layouts open as they are unzipped: as a project (the folder or a label file in it),
through `rnxstudio import`, and through the GUI's entry point (data.exchange.import_labels)."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import PurePosixPath

import pytest
from layout_fixtures import CLASSES, IMAGES, LAYOUTS, header_png, image_tree, labelme2coco, roboflow_coco
from layout_fixtures import roboflow_yolo, voc_devkit

from rnxstudio.cli import main
from rnxstudio.data.exchange import detect_format, import_labels
from rnxstudio.data.layouts import detect_layout
from rnxstudio.data.project import ProjectError, open_project

WANT = {stem: sorted((c, x, y, x + w, y + h) for c, x, y, w, h in boxes) for stem, _w, _h, boxes in IMAGES}
SIZES = {stem: (w, h) for stem, w, h, _b in IMAGES}
IMAGE_PATHS = {
    "label_studio_coco": ["images/00000000-a.png", "images/00000001-b.png", "images/00000002-c.png"],
    "label_studio_yolo": ["images/a.jpg", "images/b.jpg", "images/c.jpg"],
    "roboflow_coco": [f"train/a_jpg.rf.{0:032x}.jpg", f"train/b_jpg.rf.{1:032x}.jpg", f"valid/c_jpg.rf.{0:032x}.jpg"],
    "roboflow_yolo": ["train/images/a.jpg", "train/images/b.jpg", "valid/images/c.jpg"],
    "ultralytics_yolo": ["images/train/a.png", "images/train/b.png", "images/val/c.png"],
    "cvat_coco": ["images/a.jpg", "images/b.jpg", "images/c.jpg"],
    "labelme2coco": ["JPEGImages/a.jpg", "JPEGImages/b.jpg", "JPEGImages/c.jpg"],
    "voc_devkit": [f"VOCdevkit/VOC2007/JPEGImages/{s}.jpg" for s in "abc"],
    "labelme2voc": ["JPEGImages/a.jpg", "JPEGImages/b.jpg", "JPEGImages/c.jpg"],
}
SPLITS = {"roboflow_coco": ["train", "train", "val"], "roboflow_yolo": ["train", "train", "val"],
          "ultralytics_yolo": ["train", "train", "val"], "voc_devkit": ["train", "train", "val"]}


def _stem(path: str) -> str:
    name = PurePosixPath(path).name
    return name.split("_jpg")[0].split("-")[-1].split(".")[0]


def named_boxes(store) -> dict[str, list[tuple]]:
    names = {c.id: c.name for c in store.categories()}
    return {_stem(r.path): sorted((names[b.category_id], *b.xyxy) for b in store.boxes(r.id)) for r in store.images()}


def assert_boxes(store, tol: float = 0.0) -> None:
    got = named_boxes(store)
    assert got.keys() == WANT.keys()
    for stem, want in WANT.items():
        assert len(got[stem]) == len(want), stem
        for g, w in zip(got[stem], want):
            assert g[0] == w[0] and all(math.isclose(a, b, abs_tol=tol) for a, b in zip(g[1:], w[1:])), (stem, g, w)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_opens_as_a_project(tmp_path, name):
    folder = LAYOUTS[name](tmp_path)
    with open_project(folder) as store:
        assert store.root == folder.resolve()
        assert [r.path for r in store.images()] == IMAGE_PATHS[name]  # only the data set's own images
        assert [c.name for c in store.categories()][:2] == CLASSES
        assert_boxes(store, tol=1e-9 if "yolo" in name else 0.0)
        assert [r.split for r in store.images()] == SPLITS.get(name, [None] * 3)
        assert store.meta("layout") and "boxes added on 3 images" in store.meta("layout_import")
        assert {(r.width, r.height) for r in store.images()} == set(SIZES.values())
    with open_project(folder) as again:  # later opens do not import twice
        assert again.count_boxes() == 3


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_imports_into_a_project_of_its_images(tmp_path, name, capsys):
    """`rnxstudio import PROJECT EXPORT_FOLDER` where the project is a folder of the same images
    (e.g. the user's originals, flat): matched by path, else by file name."""
    folder = LAYOUTS[name](tmp_path / "export")
    originals = tmp_path / "originals"
    for path in IMAGE_PATHS[name]:
        stem = _stem(path)
        header_png(originals / PurePosixPath(path).name, *SIZES[stem])
    assert main(["import", str(originals), str(folder)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "3 boxes added on 3 images" in out, out
    with open_project(originals) as store:
        assert_boxes(store, tol=1e-9 if "yolo" in name else 0.0)
        assert [r.split for r in store.images()] == SPLITS.get(name, [None] * 3)


@pytest.mark.parametrize("name", ["label_studio_coco", "roboflow_yolo", "cvat_coco", "labelme2coco", "voc_devkit"])
def test_a_label_file_of_a_layout_opens_the_whole_layout(tmp_path, name):
    folder = LAYOUTS[name](tmp_path)
    label_file = {"label_studio_coco": "result.json", "roboflow_yolo": "data.yaml",
                  "cvat_coco": "annotations/instances_default.json", "labelme2coco": "annotations.json",
                  "voc_devkit": "VOCdevkit/VOC2007/Annotations/a.xml"}[name]
    with open_project(folder / label_file) as store:
        # a single XML belongs to its VOC2007 folder (Annotations/ beside JPEGImages/)
        root = folder / "VOCdevkit" / "VOC2007" if name == "voc_devkit" else folder
        assert store.root == root.resolve()
        assert store.count_images() == 3
        assert store.count_boxes() == (2 if name == "voc_devkit" else 3)  # one XML: its own boxes


def test_gui_entry_point_accepts_any_file_of_a_layout(tmp_path):
    """The GUI's Import offers a file dialog: data.yaml, a split's json or even a README works."""
    rf = roboflow_yolo(tmp_path / "x")
    for pick in ("data.yaml", "README.roboflow.txt"):
        project = tmp_path / f"p-{pick}"
        for path in IMAGE_PATHS["roboflow_yolo"]:
            header_png(project / PurePosixPath(path).name, *SIZES[_stem(path)])
        with open_project(project) as store:
            report = import_labels(store, rf / pick)
            assert report.added_boxes == 3 and report.splits == {"train": 2, "val": 1}
    assert detect_format(rf / "README.roboflow.txt") == "yolo"  # the layout it describes
    coco = roboflow_coco(tmp_path / "y")
    with open_project(tmp_path / "p-README.roboflow.txt") as store:
        report = import_labels(store, coco / "valid" / "_annotations.coco.json")
        assert report.matched_images == 0 and report.unmatched_boxes == 1 and len(report.unmatched_files) == 1
        assert "1 box skipped on 1 file not in the project" in report.summary()


def test_roboflow_coco_ids_restart_per_split_without_colliding(tmp_path):
    folder = roboflow_coco(tmp_path)
    with open_project(folder) as store:
        kept = [(r.split, r.extra["coco"]["id"]) for r in store.images()]
        assert kept == [("train", 0), ("train", 1), ("val", 0)]
        coco_ids = sorted(b.extra["coco"]["id"] for r in store.images() for b in store.boxes(r.id))
        assert coco_ids == [1, 1, 2]  # annotation ids restart at 1 in every split
        assert [c.name for c in store.categories()] == CLASSES  # "objects" is no class


def test_yolo_labels_folder_alone_finds_names_two_levels_up(tmp_path, capsys):
    folder = roboflow_yolo(tmp_path / "rf")
    flat = tmp_path / "flat"
    for stem, w, h, _b in IMAGES[:2]:
        header_png(flat / f"{stem}.jpg", w, h)
    with open_project(flat) as store:
        report = import_labels(store, folder / "train" / "labels")
        assert report.added_boxes == 2 and [c.name for c in store.categories()] == CLASSES


def test_yolo_names_from_the_command_line(tmp_path, capsys):
    folder = tmp_path / "bare"
    for stem, w, h, boxes in IMAGES:
        header_png(folder / f"{stem}.png", w, h)
        (folder / "labels").mkdir(exist_ok=True)
        (folder / "labels" / f"{stem}.txt").write_text(
            "".join(f"{CLASSES.index(c)} {(x + bw / 2) / w} {(y + bh / 2) / h} {bw / w} {bh / h}\n"
                    for c, x, y, bw, bh in boxes))
    assert main(["import", str(folder), str(folder / "labels")]) == 2
    assert "no class names" in capsys.readouterr().err
    assert main(["import", str(folder), str(folder / "labels"), "--names", ",".join(CLASSES)]) == 0
    with open_project(folder) as store:
        assert [c.name for c in store.categories()] == CLASSES and store.count_boxes() == 3
    names_file = tmp_path / "names.txt"
    names_file.write_text("x\ny\n")
    other = tmp_path / "other"
    for stem, w, h, _b in IMAGES:
        header_png(other / f"{stem}.png", w, h)
    assert main(["import", str(other), str(folder / "labels"), "--names", str(names_file)]) == 0
    with open_project(other) as store:
        assert [c.name for c in store.categories()] == ["x", "y"]


def test_image_tree_is_recursive_with_paths_relative_to_the_root(tmp_path, capsys):
    folder = image_tree(tmp_path)
    with open_project(folder) as store:
        assert [r.path for r in store.images()] == ["images/a.jpg", "images/deeper/b.png", "top.png"]
    coco = {"images": [{"id": 1, "file_name": "images/deeper/b.png", "width": 50, "height": 40}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
            "categories": [{"id": 1, "name": "x"}]}
    (tmp_path / "l.json").write_text(json.dumps(coco))
    assert main(["import", str(folder), str(tmp_path / "l.json")]) == 0
    assert main(["export", str(folder), "--out", str(tmp_path / "out")]) == 0
    exported = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert [im["file_name"] for im in exported["images"]] == ["images/a.jpg", "images/deeper/b.png", "top.png"]
    assert [a["image_id"] for a in exported["annotations"]] == [exported["images"][1]["id"]]


def test_visualisation_folders_are_not_images_and_stay_out_after_sync(tmp_path):
    folder = labelme2coco(tmp_path)
    header_png(folder / "JPEGImages" / "d.jpg", 10, 10)  # a new image in the data set's folder
    header_png(folder / "Visualization" / "e.jpg", 10, 10)
    with open_project(folder) as store:
        assert "JPEGImages/d.jpg" in [r.path for r in store.images()]
        assert not any(r.path.startswith("Visualization") for r in store.images())


def test_voc_devkit_flags_and_splits(tmp_path):
    folder = voc_devkit(tmp_path)
    with open_project(folder) as store:
        a = next(r for r in store.images() if r.path.endswith("a.jpg"))
        boxes = store.boxes(a.id)
        assert [b.difficult for b in boxes] == [False, True]
        assert [b.extra["voc"]["truncated"] for b in boxes] == ["0", "1"]
        assert [b.extra["voc"]["pose"] for b in boxes] == ["Left", "Left"]
        assert Counter(r.split for r in store.images()) == {"train": 2, "val": 1}


def test_voc_without_filename_uses_its_own_stem(tmp_path):
    folder = tmp_path / "voc"
    header_png(folder / "JPEGImages" / "pic.png", 30, 20)
    (folder / "Annotations").mkdir(parents=True)
    (folder / "Annotations" / "pic.xml").write_text(
        "<annotation><size><width>30</width><height>20</height></size><object><name>x</name>"
        "<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>12</ymax></bndbox></object></annotation>")
    with open_project(folder) as store:
        assert [r.path for r in store.images()] == ["JPEGImages/pic.png"]
        assert store.count_boxes() == 1


def test_one_based_voc_import_option(tmp_path, capsys):
    folder = tmp_path / "one"
    header_png(folder / "x.png", 50, 40)
    (folder / "x.xml").write_text("<annotation><filename>x.png</filename><size><width>50</width><height>40"
                                  "</height></size><object><name>d</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
                                  "<xmax>10</xmax><ymax>20</ymax></bndbox></object></annotation>")
    assert main(["import", str(folder), str(folder / "x.xml"), "--one-based"]) == 0
    with open_project(folder) as store:
        (box,) = store.boxes(store.image_ids()[0])
        assert box.xyxy == (0.0, 0.0, 10.0, 20.0)


def test_a_bad_label_file_in_a_layout_stops_the_open_and_names_it(tmp_path):
    folder = roboflow_coco(tmp_path)
    bad = folder / "valid" / "_annotations.coco.json"
    doc = json.loads(bad.read_text())
    doc["annotations"][0]["bbox"] = [1, 1, -4, 2]
    bad.write_text(json.dumps(doc))
    with pytest.raises(ProjectError) as info:
        open_project(folder)
    assert str(bad) in str(info.value) and "annotations[0].bbox" in str(info.value)
    from rnxstudio.core.paths import projects_dir

    assert not projects_dir().exists() or not list(projects_dir().glob("*.rnxproj"))  # nothing half-made


def test_detect_layout_names_what_it_found(tmp_path):
    for name, make in LAYOUTS.items():
        layout = detect_layout(make(tmp_path / name))
        assert layout is not None and layout.sources, name
    assert detect_layout(image_tree(tmp_path)) is None
    plain = tmp_path / "plain"
    header_png(plain / "a.png", 5, 5)
    (plain / "annotations.json").write_text("{}")  # our own demo's layout: a plain COCO file, not an export
    assert detect_layout(plain) is None


def test_an_existing_project_opens_even_when_its_export_files_later_break(tmp_path):
    folder = roboflow_yolo(tmp_path)
    with open_project(folder) as store:
        assert store.count_boxes() == 3
    (folder / "data.yaml").write_text("names:\n  0: a\n  5: b\n")  # indices 0, 5: unreadable names
    with pytest.raises(ProjectError, match="names"):
        detect_and_open = tmp_path / "copy"
        import shutil

        shutil.copytree(folder, detect_and_open)
        open_project(detect_and_open)  # a new project of it cannot be made
    with open_project(folder) as store:  # the one made before still opens
        assert store.count_boxes() == 3
