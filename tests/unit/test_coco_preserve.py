"""COCO details: RLE decoding (checked against pycocotools), segmentation checks, what is skipped
and what is an error, categories that are not classes, ids kept or renumbered."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from labelset_strategies import label_sets
from pycocotools import mask as mask_utils

from rnxstudio.core.model import Box, Category, ImageRecord, LabelSet
from rnxstudio.data.coco import read_coco, to_coco_dict
from rnxstudio.data.coco_geometry import check_segmentation, counts_from_string, rle_area, rle_bbox
from rnxstudio.data.errors import LabelFormatError


def test_rle_decoding_matches_pycocotools():
    rng = np.random.default_rng(0)
    for t in range(150):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        m = np.zeros((h, w), np.uint8)
        if t % 3:
            y0, y1 = sorted(rng.integers(0, h, 2))
            x0, x1 = sorted(rng.integers(0, w, 2))
            m[y0:y1 + 1, x0:x1 + 1] = 1
        else:
            m[:] = rng.random((h, w)) < 0.3
        rle = mask_utils.encode(np.asfortranarray(m))
        seg = {"counts": rle["counts"].decode(), "size": [h, w]}
        assert sum(counts_from_string(seg["counts"])) == h * w
        assert rle_area(seg) == int(mask_utils.area(rle))
        box = rle_bbox(seg)
        assert (box is None) == (m.sum() == 0)
        if box is not None:
            assert list(box) == mask_utils.toBbox(rle).tolist()


@pytest.mark.parametrize("seg, problem", [
    ({"counts": [1, 2], "size": [2, 2]}, "cover 3 pixels"),
    ({"counts": [0, 4], "size": [2, 3]}, "cover 4 pixels"),
    ({"counts": [0, 6], "size": [3, 2]}, "does not match"),
    ({"counts": "x", "size": [2, 3]}, "compressed"),
    ({"size": [2, 3]}, "counts"),
    ([[1, 2, 3]], "odd number"),
    ([[1, "a", 3, 4]], "finite numbers"),
    ("polygon", "must be a list"),
])
def test_bad_segmentations_are_named(seg, problem):
    assert problem in (check_segmentation(seg, 3, 2) or "")


def test_good_segmentations_pass():
    for seg in (None, [], {}, [[1, 2, 3, 4, 5, 6]], [1.5, 2, 3, 4, 5, 6], {"counts": [0, 6], "size": [2, 3]}):
        assert check_segmentation(seg, 3, 2) is None


def _doc(**ann):
    return {"images": [{"id": 0, "file_name": "a.png", "width": 20, "height": 10}],
            "categories": [{"id": 0, "name": "_background_", "supercategory": None}, {"id": 1, "name": "x"}],
            "annotations": [dict({"id": 0, "image_id": 0, "category_id": 1, "bbox": [1, 1, 4, 4]}, **ann)]}


def test_zero_area_box_is_skipped_and_reported_not_an_error(tmp_path):
    doc = _doc()
    doc["annotations"].append({"id": 1, "image_id": 0, "category_id": 1, "bbox": [0.0, 4.0, 0.0, 6.0],
                               "segmentation": [[0, 4, 0, 10, 0, 7]]})
    (tmp_path / "c.json").write_text(json.dumps(doc))
    ls = read_coco(tmp_path / "c.json")
    assert ls.num_boxes == 1 and len(ls.skipped) == 1 and "annotations[1] (id 1)" in ls.skipped[0]
    doc["annotations"][1]["bbox"] = [0.0, 4.0, -1.0, 6.0]  # negative: a broken file
    (tmp_path / "c.json").write_text(json.dumps(doc))
    with pytest.raises(LabelFormatError, match="annotations\\[1\\].bbox"):
        read_coco(tmp_path / "c.json")


def test_values_that_cannot_be_kept_are_named(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps(_doc(attributes={"score": float("inf")})).replace("Infinity", "1e999"))
    with pytest.raises(LabelFormatError, match=r"annotations\[0\].attributes: must not contain NaN"):
        read_coco(tmp_path / "c.json")
    (tmp_path / "d.json").write_text(json.dumps(_doc(iscrowd=2)))
    with pytest.raises(LabelFormatError, match=r"iscrowd: must be 0 or 1"):
        read_coco(tmp_path / "d.json")


def test_labelme_background_is_no_class_but_is_written_back(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps(_doc()))
    ls = read_coco(tmp_path / "c.json")
    assert [c.name for c in ls.categories] == ["x"]
    out = to_coco_dict(ls)
    assert out["categories"][0] == {"id": 0, "name": "_background_", "supercategory": None}


def test_ids_are_kept_unless_taken_and_new_boxes_count_on_from_the_largest():
    ls = LabelSet(categories=[Category(1, "x")],
                  images=[ImageRecord("a.png", id=10, width=9, height=9, extra={"coco": {"id": 0}}),
                          ImageRecord("b.png", id=11, width=9, height=9, extra={"coco": {"id": 0}}),
                          ImageRecord("c.png", id=12, width=9, height=9)],
                  boxes={10: [Box(1, 1, 3, 3, 1, extra={"coco": {"id": 5}}), Box(1, 1, 4, 4, 1)],
                         11: [Box(1, 1, 3, 3, 1, extra={"coco": {"id": 5}})]})
    notes: dict[str, int] = {}
    out = to_coco_dict(ls, notes=notes)
    assert [im["id"] for im in out["images"]] == [0, 11, 12]  # b's 0 was taken: its project id
    assert [a["id"] for a in out["annotations"]] == [5, 6, 7]
    assert notes == {"image_ids_renumbered": 1, "annotation_ids_renumbered": 1}
    fresh = to_coco_dict(ls, keep_ids=False)
    assert [im["id"] for im in fresh["images"]] == [1, 2, 3] and [a["id"] for a in fresh["annotations"]] == [1, 2, 3]


_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                                 st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                       max_leaves=8)
_KEYS = st.text(st.characters(whitelist_categories=("Ll",)), min_size=1, max_size=8).filter(
    lambda k: k not in {"id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation", "score",
                        "track_id", "file_name", "width", "height", "frame_index", "timestamp", "name", "color"})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(ls=label_sets(), data=st.data())
def test_kept_fields_survive_the_project_and_a_second_export(tmp_path_factory, ls, data):
    """Random boxes with random unknown fields and crowd flags: file -> project -> file keeps every
    field, and exporting that again is byte-identical."""
    from rnxstudio.data.coco import write_coco
    from rnxstudio.data.store import ProjectStore

    base = tmp_path_factory.mktemp("kept")
    for im in ls.images:
        im.extra["coco"] = data.draw(st.dictionaries(_KEYS, _VALUES, max_size=2))
    for boxes in ls.boxes.values():
        for k, b in enumerate(boxes):
            boxes[k] = Box(*b.xyxy, b.category_id, image_id=b.image_id, crowd=data.draw(st.booleans()),
                           extra={"coco": data.draw(st.dictionaries(_KEYS, _VALUES, max_size=2))})
    write_coco(ls, base / "in.json")
    original = json.loads((base / "in.json").read_text())
    with ProjectStore.create(base / "p.rnxproj", root=base) as store:
        store.add_images([ImageRecord(im.path, width=im.width, height=im.height) for im in ls.images])
        store.import_labelset(read_coco(base / "in.json"))
        write_coco(store.to_labelset(), base / "out.json")
        write_coco(store.to_labelset(), base / "again.json")
    exported = json.loads((base / "out.json").read_text())
    assert (base / "again.json").read_bytes() == (base / "out.json").read_bytes()
    by_id = {a["id"]: a for a in exported["annotations"]}
    for a in original["annotations"]:
        assert by_id[a["id"]] == a
    ims = {im["id"]: im for im in exported["images"]}
    for im in original["images"]:
        assert ims[im["id"]] == im
