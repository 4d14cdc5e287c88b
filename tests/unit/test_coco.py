"""COCO read/write: exact round trips, real-tool quirks, validation, crash-safe export."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_tree import tree_paths
from labelset_strategies import assert_same_boxes, label_sets
from PIL import Image

from rnxstudio.core.model import Box, Category, ImageRecord, LabelSet
from rnxstudio.data import coco
from rnxstudio.data.coco import read_coco, write_coco
from rnxstudio.data.errors import LabelFormatError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "coco"


def _sample() -> LabelSet:
    cats = [Category(3, "cat"), Category(17, "dog", supercategory="animal")]
    images = [
        ImageRecord("a/one.png", id=4, width=120, height=90),
        ImageRecord("two.png", id=8, width=64, height=64),  # no boxes: must still be written
        ImageRecord("clip.avi#000003", id=9, width=160, height=120, frame_index=3, timestamp=0.2),
    ]
    boxes = {
        4: [Box(1.25, 2.5, 40.123456789, 60.987654321, 3), Box(10, 10, 119.9, 89.5, 17, score=0.75)],
        9: [Box(5.0, 6.0, 50.0, 60.0, 17, track_id=2)],
    }
    return LabelSet(categories=cats, images=images, boxes=boxes)


def test_round_trip_sample_exact(tmp_path):
    ls = _sample()
    out = tmp_path / "c.json"
    write_coco(ls, out)
    back = read_coco(out)
    assert [c.id for c in back.categories] == [3, 17]
    assert [c.name for c in back.categories] == ["cat", "dog"]
    assert back.categories[1].supercategory == "animal"
    assert [im.id for im in back.images] == [4, 8, 9]
    assert back.images[2].frame_index == 3 and back.images[2].timestamp == 0.2
    assert_same_boxes(ls, back, abs_tol=1e-9)
    assert back.boxes[4][1].score == 0.75
    assert back.boxes[9][0].track_id == 2
    data = json.loads(out.read_text())
    assert [a["id"] for a in data["annotations"]] == [1, 2, 3]
    ann = data["annotations"][0]
    assert ann["iscrowd"] == 0 and isinstance(ann["bbox"][0], float)
    assert ann["area"] == pytest.approx((40.123456789 - 1.25) * (60.987654321 - 2.5))


def test_file_names_relative_to_root(tmp_path):
    root = tmp_path / "imgs"
    ls = LabelSet(
        categories=[Category(1, "x")],
        images=[ImageRecord(str(root / "sub" / "a.png"), id=1, width=10, height=10)],
        root=str(root),
    )
    write_coco(ls, tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text())["images"][0]["file_name"] == "sub/a.png"


def test_unassigned_image_ids_are_numbered(tmp_path):
    ls = LabelSet(categories=[Category(1, "x")],
                  images=[ImageRecord("a.png", id=0, width=10, height=10),
                          ImageRecord("b.png", id=-1, width=10, height=10)],
                  boxes={-1: [Box(1, 1, 5, 5, 1)]})
    write_coco(ls, tmp_path / "c.json")
    data = json.loads((tmp_path / "c.json").read_text())
    assert [i["id"] for i in data["images"]] == [1, 2]
    assert data["annotations"][0]["image_id"] == 2


def test_pycocotools_loads_and_evaluates(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ls = _sample()
    out = tmp_path / "gt.json"
    write_coco(ls, out)
    gt = COCO(str(out))
    dets = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
        for a in gt.dataset["annotations"]
    ]
    ev = COCOeval(gt, gt.loadRes(dets), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # perfect detections -> AP 1.0


def test_cvat_fixture():
    ls = read_coco(FIXTURES / "cvat_instances_default.json")
    assert [c.name for c in ls.categories] == ["car", "person", "bicycle"]
    assert len(ls.images) == 3 and ls.num_boxes == 3
    b = ls.boxes[1][0]
    assert (b.x1, b.y1) == (101.52, 200.33)
    assert b.x2 == pytest.approx(101.52 + 87.1) and b.y2 == pytest.approx(200.33 + 57.59)
    assert ls.boxes_for(ls.images[2]) == []


def test_label_studio_fixture_and_resolution(tmp_path):
    ls = read_coco(FIXTURES / "label_studio_result.json")
    assert [c.id for c in ls.categories] == [0, 1]
    assert ls.images[2].path == "images/street_03.jpg"  # Windows separators normalised
    assert ls.num_boxes == 3 and len(ls.boxes[0]) == 2
    # file names with upload prefixes resolve to the real files by base name
    from rnxstudio.data.labelpaths import ImageResolver

    (tmp_path / "photos").mkdir()
    for name in ("street_01.jpg", "street_02.jpg", "street_03.jpg"):
        (tmp_path / "photos" / name).write_bytes(b"x")
    r = ImageResolver(tmp_path)
    assert [r.resolve(im.path) for im in ls.images] == [
        tmp_path / "photos" / "street_01.jpg",
        tmp_path / "photos" / "street_02.jpg",
        tmp_path / "photos" / "street_03.jpg",
    ]
    assert r.resolve("nothing_like_it.jpg") is None


def test_roboflow_fixture_drops_parent_category():
    ls = read_coco(FIXTURES / "roboflow_annotations.coco.json")
    assert [(c.id, c.name) for c in ls.categories] == [(1, "circle"), (2, "square"), (4, "star")]
    assert ls.num_boxes == 3
    assert {b.category_id for bs in ls.boxes.values() for b in bs} == {1, 2, 4}  # non-contiguous kept


def test_missing_sizes_read_from_images(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    Image.fromarray(np.zeros((30, 50, 3), np.uint8)).save(root / "a.png")
    data = {"images": [{"id": 1, "file_name": "a.png"}], "annotations": [], "categories": [{"id": 1, "name": "x"}]}
    f = tmp_path / "c.json"
    f.write_text(json.dumps(data))
    ls = read_coco(f, image_root=root)
    assert (ls.images[0].width, ls.images[0].height) == (50, 30)
    with pytest.raises(LabelFormatError, match="no image folder"):
        read_coco(f)
    data["images"].append({"id": 2, "file_name": "gone.png"})
    f.write_text(json.dumps(data))
    with pytest.raises(LabelFormatError, match="not found"):
        read_coco(f, image_root=root)


def test_schema_errors_listed_together(tmp_path):
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}, {"id": 1, "file_name": "b.png",
                                                                              "width": -3, "height": 10}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, -2, 3]},
            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [1, 1, 2, 3]},
            {"id": 3, "image_id": 1, "category_id": 9, "bbox": [1, 1, 2, 3]},
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2]},
        ],
        "categories": [{"id": 1, "name": "x"}],
    }
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(data))
    with pytest.raises(LabelFormatError) as ei:
        read_coco(f)
    err = ei.value
    assert err.path == str(f)
    text = str(err)
    assert str(f) in text
    for fragment in ("width: must be a positive integer", "width and height must be positive",
                     "no image with id 7", "no category with id 9", "annotations[3].bbox"):
        assert fragment in text, fragment


def test_nan_and_invalid_json(tmp_path):
    f = tmp_path / "n.json"
    f.write_text('{"images": [{"id": 1, "file_name": "a", "width": 5, "height": 5}], "categories": '
                 '[{"id": 1, "name": "x"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, '
                 '"bbox": [NaN, 0, 1, 1]}]}')
    with pytest.raises(LabelFormatError, match="finite"):
        read_coco(f)
    f.write_text("{not json")
    with pytest.raises(LabelFormatError, match="invalid JSON at line 1"):
        read_coco(f)
    with pytest.raises(LabelFormatError, match="file not found"):
        read_coco(tmp_path / "absent.json")
    f.write_text("[1, 2]")
    with pytest.raises(LabelFormatError, match="JSON object"):
        read_coco(f)


def test_numbers_the_project_store_cannot_hold_are_refused(tmp_path):
    """Ids and sizes beyond 64-bit integers (hypothesis found a width of 9.2e18 escaping as
    SQLite's OverflowError on import) are schema problems named with their place."""
    f = tmp_path / "big.json"
    f.write_text(json.dumps({"images": [{"id": 2**63, "file_name": "a", "width": 2.0**63, "height": 5}],
                             "categories": [{"id": 1, "name": "x"}], "annotations": []}))
    with pytest.raises(LabelFormatError) as ei:
        read_coco(f)
    assert any("images[0].id" in p for p in ei.value.problems)
    assert any("images[0].width" in p for p in ei.value.problems)


def test_error_message_lists_first_problems_only(tmp_path):
    anns = [{"id": i, "image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1]} for i in range(1, 40)]
    f = tmp_path / "many.json"
    f.write_text(json.dumps({"images": [], "annotations": anns, "categories": [{"id": 1, "name": "x"}]}))
    with pytest.raises(LabelFormatError) as ei:
        read_coco(f)
    assert len(ei.value.problems) == 39
    assert "... and 29 more" in str(ei.value)
    assert ei.value.summary.endswith("(+38 more)")


def test_interrupted_export_keeps_previous_file(tmp_path, monkeypatch):
    out = tmp_path / "export" / "c.json"
    write_coco(_sample(), out)
    before = out.read_bytes()

    def exploding_dump(obj, fh, **kw):
        fh.write('{"images": [')  # half a file, then the failure
        raise OSError("disk full (injected)")

    monkeypatch.setattr(coco.json, "dump", exploding_dump)
    bigger = _sample()
    bigger.images.append(ImageRecord("three.png", id=20, width=5, height=5))
    with pytest.raises(OSError, match="injected"):
        write_coco(bigger, out)
    assert out.read_bytes() == before
    assert os.listdir(out.parent) == ["c.json"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ls=label_sets())
def test_random_label_sets_round_trip(tmp_path_factory, ls):
    out = tmp_path_factory.mktemp("rt") / "c.json"
    write_coco(ls, out)
    back = read_coco(out)
    assert [(c.id, c.name) for c in back.categories] == [(c.id, c.name) for c in ls.categories]
    assert_same_boxes(ls, back, abs_tol=1e-6)
    # and again: the second export is byte-identical (stable output)
    out2 = out.with_name("c2.json")
    write_coco(back, out2)
    assert out2.read_bytes() == out.read_bytes()


_VALID = {
    "info": {"description": "t"},
    "images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 40},
               {"id": 2, "file_name": "b.png", "width": 50, "height": 40}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1.0, 2.0, 10.0, 12.0], "area": 120.0,
                     "iscrowd": 0},
                    {"id": 2, "image_id": 2, "category_id": 2, "bbox": [5.0, 5.0, 4.0, 4.0], "area": 16.0,
                     "iscrowd": 0}],
    "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
}
_JUNK = st.sampled_from([None, "x", "", -1, 0, 1e308, float("nan"), float("inf"), True, [], {}, [1, 2], {"a": 1}])
# (path, mutation) pairs that always make the file invalid
_BREAKING = [
    (("images", 0, "id"), "del"), (("images", 1, "file_name"), "del"), (("annotations", 0, "bbox"), "del"),
    (("annotations", 0, "image_id"), "del"), (("annotations", 1, "category_id"), "del"),
    (("categories", 0, "id"), "del"), (("categories", 1, "name"), "del"), (("images",), "del"),
    (("annotations",), "del"), (("categories",), "del"),
    (("annotations", 0, "bbox", 2), -5.0), (("annotations", 1, "bbox", 3), float("nan")),
    (("annotations", 0, "bbox", 0), "1"), (("annotations", 0, "image_id"), 99),
    (("annotations", 1, "category_id"), 42), (("images", 1, "id"), 1), (("images", 0, "width"), -1),
    (("annotations", 0, "bbox"), [1, 2, 3]), (("images",), {"id": 1}), (("categories", 1, "id"), "2"),
]


def _mutate(doc, path, value):
    target = doc
    for k in path[:-1]:
        target = target[k]
    if value == "del":
        del target[path[-1]]
    else:
        target[path[-1]] = value


_ALL_PATHS = [p for p in tree_paths(_VALID) if p]


@settings(max_examples=80, deadline=None)
@given(picks=st.lists(st.sampled_from(_BREAKING), min_size=1, max_size=3, unique_by=lambda m: m[0]))
def test_breaking_corruptions_raise_label_format_error(tmp_path_factory, picks):
    doc = copy.deepcopy(_VALID)
    for path, value in sorted(picks, key=lambda m: -len(m[0])):
        try:
            _mutate(doc, path, value)
        except (KeyError, IndexError, TypeError):
            pass  # a parent was already replaced/removed; the file stays broken anyway
    f = tmp_path_factory.mktemp("bad") / "c.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(LabelFormatError):
        read_coco(f)


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from(_ALL_PATHS), value=st.one_of(_JUNK, st.just("del")),
       cut=st.one_of(st.none(), st.integers(0, 400)))
def test_arbitrary_corruptions_never_escape_as_other_errors(tmp_path_factory, path, value, cut):
    doc = copy.deepcopy(_VALID)
    _mutate(doc, path, value)
    text = json.dumps(doc)
    if cut is not None:
        text = text[:cut]
    f = tmp_path_factory.mktemp("junk") / "c.json"
    f.write_text(text)
    try:
        ls = read_coco(f)
    except LabelFormatError as exc:
        assert str(f) in str(exc)
    else:  # accepted: the result must still be a coherent LabelSet
        ids = {c.id for c in ls.categories}
        for im in ls.images:
            assert im.width > 0 and im.height > 0
            for b in ls.boxes_for(im):
                assert b.category_id in ids and b.x2 > b.x1 and b.y2 > b.y1
