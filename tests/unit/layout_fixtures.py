"""Small exports in the layouts real tools write, built from the formats' documentation and the
tools' public examples (not copied from any file): each function writes one under ``root`` and
returns its folder. Images are PNG headers only (``read_size`` needs nothing more), so the
fixtures are fast; JPEG names carry PNG bytes, which every reader here sniffs correctly."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

# One data set, three images, written in every layout: (file stem, width, height, boxes)
# with boxes as (class name, x, y, w, h) in pixels; "b" has no boxes (a reviewed negative).
CLASSES = ["cat", "dog house"]  # a space in a name, as real exports have
IMAGES = [
    ("a", 64, 48, [("cat", 1.5, 2.25, 20.0, 10.5), ("dog house", 30, 8, 33, 39)]),
    ("b", 50, 40, []),
    ("c", 40, 60, [("dog house", 0, 0, 40, 60)]),
]


def header_png(path: Path, width: int, height: int) -> Path:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + iend)
    return path


def coco_doc(file_names: list[str], *, first_id: int = 1, cat_ids=(1, 2), extra_image=None, extra_ann=None,
             images=IMAGES) -> dict:
    cats = [{"id": cid, "name": n, "supercategory": ""} for cid, n in zip(cat_ids, CLASSES)]
    by_name = {c["name"]: c["id"] for c in cats}
    out_images, anns = [], []
    aid = first_id
    for iid, ((stem, w, h, boxes), name) in enumerate(zip(images, file_names), start=first_id):
        entry = {"id": iid, "file_name": name, "width": w, "height": h}
        entry.update(extra_image(stem) if extra_image else {})
        out_images.append(entry)
        for cls, x, y, bw, bh in boxes:
            ann = {"id": aid, "image_id": iid, "category_id": by_name[cls], "bbox": [x, y, bw, bh],
                   "area": bw * bh, "iscrowd": 0, "segmentation": []}
            ann.update(extra_ann(aid) if extra_ann else {})
            anns.append(ann)
            aid += 1
    return {"info": {"description": "fixture"}, "images": out_images, "annotations": anns, "categories": cats}


def _images(folder: Path, ext: str = ".jpg", images=IMAGES) -> None:
    for stem, w, h, _ in images:
        header_png(folder / f"{stem}{ext}", w, h)


def yolo_lines(boxes, w, h, names=CLASSES, trailing_newline=True) -> str:
    lines = [f"{names.index(c)} {(x + bw / 2) / w!r} {(y + bh / 2) / h!r} {bw / w!r} {bh / h!r}"
             for c, x, y, bw, bh in boxes]
    return "\n".join(lines) + ("\n" if lines and trailing_newline else "")


ADDED = {"color"}  # the one key rnxstudio adds to a category (its display colour)


def _by_id(items):
    return {x["id"]: x for x in items}


def assert_same_coco(original: dict, exported: dict, *, file_prefix: str = "", skipped=(), clip=False) -> None:
    """Every field of ``original`` is in ``exported`` with the same value (category colour aside).
    ``skipped``: annotation ids left out on import (reported there); ``clip``: boxes overhanging
    their image are expected clipped (the import clips and reports them)."""
    for key in original:
        if key not in ("images", "annotations", "categories"):
            assert exported[key] == original[key], key
    got = _by_id(exported["images"])
    for im in original["images"]:
        want = dict(im, file_name=file_prefix + im["file_name"].replace("\\", "/"))
        assert got[im["id"]] == want, im["id"]
    got = _by_id(exported["annotations"])
    sizes = {im["id"]: (im["width"], im["height"]) for im in original["images"]}
    assert set(got) == {a["id"] for a in original["annotations"]} - set(skipped)
    for a in original["annotations"]:
        if a["id"] in skipped:
            continue
        want = dict(a)
        x, y, w, h = a["bbox"]
        iw, ih = sizes[a["image_id"]]
        if clip and (x < 0 or y < 0 or x + w > iw or y + h > ih):
            x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, iw), min(y + h, ih)
            want["bbox"] = [x1, y1, x2 - x1, y2 - y1]
            assert all(abs(u - v) < 1e-9 for u, v in zip(got[a["id"]]["bbox"], want["bbox"]))
            want["bbox"] = got[a["id"]]["bbox"]
        assert got[a["id"]] == want, a["id"]  # bbox digit for digit, segmentation, area, attributes...
    got = _by_id(exported["categories"])
    for c in original["categories"]:
        assert {k: v for k, v in got[c["id"]].items() if k not in ADDED} == c


# ----------------------------------------------------------------------------- layouts


def label_studio_coco(root: Path) -> Path:
    """Label Studio "COCO" export: result.json beside images/, file_name "images/<8 hex>-<name>",
    ids from 0, "ignore" on every annotation, no "licenses" key."""
    d = root / "project-1-at-2024"
    names = [f"images/{k:08x}-{stem}.png" for k, (stem, *_rest) in enumerate(IMAGES)]
    doc = coco_doc(names, first_id=0, cat_ids=(0, 1), extra_ann=lambda _aid: {"ignore": 0})
    doc["info"] = {"year": 2024, "version": "1.0", "contributor": "Label Studio"}
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps(doc).replace("/", "\\/"))  # LS escapes slashes
    for name, (_stem, w, h, _b) in zip(names, IMAGES):
        header_png(d / name, w, h)
    return d


def label_studio_yolo(root: Path) -> Path:
    """Label Studio YOLO export: classes.txt, notes.json, images/, labels/ (4-corner lines)."""
    d = root / "ls-yolo"
    _images(d / "images")
    (d / "classes.txt").write_text("".join(f"{n}\n" for n in CLASSES))
    (d / "notes.json").write_text(json.dumps({"categories": [{"id": k, "name": n} for k, n in enumerate(CLASSES)],
                                              "info": {"contributor": "Label Studio"}}))
    for stem, w, h, boxes in IMAGES:
        lines = []
        for c, x, y, bw, bh in boxes:
            x1, y1, x2, y2 = x / w, y / h, (x + bw) / w, (y + bh) / h
            lines.append(f"{CLASSES.index(c)} {x1!r} {y1!r} {x2!r} {y1!r} {x2!r} {y2!r} {x1!r} {y2!r}\n")
        (d / "labels").mkdir(exist_ok=True)
        (d / "labels" / f"{stem}.txt").write_text("".join(lines))
    (d / "desktop.ini").write_text("[.ShellClassInfo]\n")  # stray files users' systems add
    (d / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    return d


ROBOFLOW_SPLITS = {"train": [IMAGES[0], IMAGES[1]], "valid": [IMAGES[2]], "test": []}


def roboflow_coco(root: Path) -> Path:
    """Roboflow COCO export: train/ valid/ test/ each with _annotations.coco.json beside its
    images (ids restart in each split), the box-less parent category 0, README files."""
    d = root / "pens.v1i.coco"
    for split, images in ROBOFLOW_SPLITS.items():
        names = [f"{stem}_jpg.rf.{k:032x}.jpg" for k, (stem, *_r) in enumerate(images)]
        doc = coco_doc(names, first_id=0, images=images,
                       extra_image=lambda stem: {"license": 1, "date_captured": "2026-03-25T23:22:00+00:00",
                                                 "extra": {"name": f"{stem}.jpg"}})
        for k, a in enumerate(doc["annotations"], start=1):  # annotation ids restart at 1
            a["id"] = k
        doc["categories"] = [{"id": 0, "name": "objects", "supercategory": "none"}] + [
            dict(c, supercategory="objects") for c in doc["categories"]]
        doc["licenses"] = [{"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}]
        (d / split).mkdir(parents=True)
        (d / split / "_annotations.coco.json").write_text(json.dumps(doc))
        for name, (_s, w, h, _b) in zip(names, images):
            header_png(d / split / name, w, h)
    (d / "README.roboflow.txt").write_text("This dataset was exported via roboflow.com\n")
    (d / "README.dataset.txt").write_text("# pens > v1\nLicense: CC BY 4.0\n")
    return d


def roboflow_yolo(root: Path) -> Path:
    """Roboflow YOLOv8 export: data.yaml with ../train/images paths, split folders with
    images/ and labels/, README files, label files without a final newline."""
    d = root / "caps.v2i.yolov8"
    for split, images in ROBOFLOW_SPLITS.items():
        (d / split / "labels").mkdir(parents=True)
        (d / split / "images").mkdir(parents=True)
        for stem, w, h, boxes in images:
            header_png(d / split / "images" / f"{stem}.jpg", w, h)
            (d / split / "labels" / f"{stem}.txt").write_text(yolo_lines(boxes, w, h, trailing_newline=False))
    (d / "data.yaml").write_text(
        "train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\n"
        f"nc: {len(CLASSES)}\nnames: {json.dumps(CLASSES)}\n\n"
        "roboflow:\n  workspace: ws\n  project: caps\n  version: 2\n  license: CC BY 4.0\n")
    (d / "README.roboflow.txt").write_text("exported via roboflow.com\n")
    return d


def ultralytics_yolo(root: Path) -> Path:
    """Ultralytics layout: images/train, images/val, labels/... and a names mapping with path."""
    d = root / "coco8-like"
    for split, images in (("train", IMAGES[:2]), ("val", IMAGES[2:])):
        for stem, w, h, boxes in images:
            header_png(d / "images" / split / f"{stem}.png", w, h)
            (d / "labels" / split).mkdir(parents=True, exist_ok=True)
            if boxes:  # no label file = no objects
                (d / "labels" / split / f"{stem}.txt").write_text(yolo_lines(boxes, w, h))
    (d / "dataset.yaml").write_text("path: ../datasets/coco8-like  # dataset root dir\ntrain: images/train\n"
                                    "val: images/val\ntest:  # optional\n\nnames:\n" +
                                    "".join(f"  {k}: {n}\n" for k, n in enumerate(CLASSES)))
    return d


def cvat_coco(root: Path) -> Path:
    """CVAT "COCO 1.0": annotations/instances_default.json + images/, attributes per annotation,
    polygons, empty license/info placeholders, categories without boxes."""
    d = root / "task_1-coco"
    names = [f"{stem}.jpg" for stem, *_r in IMAGES]

    def attrs(aid: int) -> dict:
        return {"attributes": {"occluded": aid == 2, "rotation": 0.0, "Severity": "", "track_id": 7},
                "segmentation": [[1.5, 2.25, 21.5, 2.25, 21.5, 12.75, 1.5, 12.75]] if aid == 1 else []}

    doc = coco_doc(names, extra_ann=attrs, extra_image=lambda _s: {"license": 0, "flickr_url": "", "coco_url": "",
                                                                     "date_captured": 0})
    doc["categories"].append({"id": 3, "name": "unused class", "supercategory": ""})
    doc["licenses"] = [{"name": "", "id": 0, "url": ""}]
    doc["info"] = {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""}
    (d / "annotations").mkdir(parents=True)
    (d / "annotations" / "instances_default.json").write_text(json.dumps(doc))
    _images(d / "images")
    return d


def labelme2coco(root: Path) -> Path:
    """labelme's labelme2coco.py output: annotations.json + JPEGImages/ + Visualization/, Windows
    separators, _background_ category 0 without boxes, null metadata, a "type" key."""
    d = root / "data_dataset_coco"
    names = [f"JPEGImages\\{stem}.jpg" for stem, *_r in IMAGES]
    doc = coco_doc(names, first_id=0, extra_image=lambda _s: {"license": 0, "url": None, "date_captured": None})
    doc["categories"] = [{"supercategory": None, "id": 0, "name": "_background_"}] + [
        dict(c, supercategory=None) for c in doc["categories"]]
    doc["info"] = {"description": None, "url": None, "version": None, "year": 2024, "contributor": None}
    doc["licenses"] = [{"url": None, "id": 0, "name": None}]
    doc["type"] = "instances"
    d.mkdir(parents=True)
    (d / "annotations.json").write_text(json.dumps(doc))
    _images(d / "JPEGImages")
    _images(d / "Visualization")  # drawings of the labels: not images of the data set
    return d


def _voc_xml(stem, w, h, boxes, *, filename=True, extra_object="", folder="JPEGImages") -> str:
    objs = "".join(
        f"<object><name>{c}</name><pose>Left</pose><truncated>{k % 2}</truncated><difficult>{int(k == 1)}"
        f"</difficult>{extra_object}<bndbox><xmin>{x:g}</xmin><ymin>{y:g}</ymin><xmax>{x + bw:g}</xmax>"
        f"<ymax>{y + bh:g}</ymax></bndbox></object>"
        for k, (c, x, y, bw, bh) in enumerate(boxes))
    name = f"<filename>{stem}.jpg</filename>" if filename else ""
    return (f"<annotation><folder>{folder}</folder>{name}<path>C:\\Users\\someone\\{stem}.jpg</path>"
            f"<source><database>Unknown</database></source><size><width>{w}</width><height>{h}</height>"
            f"<depth>3</depth></size><segmented>0</segmented>{objs}</annotation>")


def voc_devkit(root: Path) -> Path:
    """VOCdevkit/VOC2007/{Annotations,JPEGImages,ImageSets/Main}: splits in ImageSets, difficult
    and truncated flags, stale <folder>/<path>, a README in ImageSets/Main, an empty test.txt."""
    d = root / "helmets"
    voc = d / "VOCdevkit" / "VOC2007"
    (voc / "Annotations").mkdir(parents=True)
    for stem, w, h, boxes in IMAGES:
        (voc / "Annotations" / f"{stem}.xml").write_text(_voc_xml(stem, w, h, boxes, folder="hat01"))
    _images(voc / "JPEGImages")
    main = voc / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (main / "train.txt").write_text("a\nb\n")
    (main / "val.txt").write_text("c\n")
    (main / "trainval.txt").write_text("a\nb\nc\n")
    (main / "test.txt").write_text("")
    (main / "README.md").write_text("split lists\n")
    (main / "cat_train.txt").write_text("a  1\nb -1\n")  # a per-class list: not a split
    return d


def labelme2voc(root: Path) -> Path:
    """labelme's bbox_detection/labelme2voc.py output: JPEGImages/, Annotations/ with empty
    <pose/>/<truncated/>/<difficult/> and float coordinates, AnnotationsVisualization/,
    class_names.txt starting with _background_ and no final newline."""
    d = root / "data_dataset_voc"
    (d / "Annotations").mkdir(parents=True)
    for stem, w, h, boxes in IMAGES:
        objs = "".join(
            f"<object><name>{c}</name><pose/><truncated/><difficult/><bndbox><xmin>{float(x)!r}</xmin>"
            f"<ymin>{float(y)!r}</ymin><xmax>{float(x + bw)!r}</xmax><ymax>{float(y + bh)!r}</ymax></bndbox></object>"
            for c, x, y, bw, bh in boxes)
        (d / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><folder/><filename>{stem}.jpg</filename><database/><annotation/><image/><size>"
            f"<height>{h}</height><width>{w}</width><depth>3</depth></size><segmented/>{objs}</annotation>")
    _images(d / "JPEGImages")
    _images(d / "AnnotationsVisualization")
    (d / "class_names.txt").write_text("\n".join(["_background_", *CLASSES]))
    return d


def image_tree(root: Path) -> Path:
    """A plain project folder with images in sub-folders (and no labels)."""
    d = root / "photos"
    header_png(d / "top.png", 30, 20)
    header_png(d / "images" / "a.jpg", 64, 48)
    header_png(d / "images" / "deeper" / "b.png", 50, 40)
    (d / "notes.txt").write_text("not an image")
    return d


LAYOUTS = {
    "label_studio_coco": label_studio_coco, "label_studio_yolo": label_studio_yolo, "roboflow_coco": roboflow_coco,
    "roboflow_yolo": roboflow_yolo, "ultralytics_yolo": ultralytics_yolo, "cvat_coco": cvat_coco,
    "labelme2coco": labelme2coco, "voc_devkit": voc_devkit, "labelme2voc": labelme2voc,
}
