"""Pascal VOC XML: exact round trips, the pixel convention, tolerant reading, one error for all problems."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from labelset_strategies import assert_same_boxes, label_sets
from PIL import Image

from rnxstudio.core.model import Box, Category, ImageRecord, LabelSet
from rnxstudio.data.errors import LabelFormatError
from rnxstudio.data.voc import read_voc, write_voc


def _sample() -> LabelSet:
    return LabelSet(
        categories=[Category(5, "car"), Category(9, "person")],
        images=[
            ImageRecord("street/a.jpg", id=1, width=640, height=480),
            ImageRecord("b.png", id=2, width=100, height=50),  # no boxes
            ImageRecord("clip_000012.png", id=3, width=160, height=120, frame_index=12),
        ],
        boxes={1: [Box(10, 20, 110.5, 220.25, 5), Box(0.1, 0.2, 639.9, 479.9, 9)], 3: [Box(3, 4, 50, 60, 9)]},
    )


def test_round_trip_exact(tmp_path):
    ls = _sample()
    written = write_voc(ls, tmp_path / "voc", coords="float")
    assert sorted(p.relative_to(tmp_path / "voc").as_posix() for p in written) == [
        "b.xml", "clip_000012.xml", "street/a.xml"]
    back = read_voc(tmp_path / "voc")
    assert [c.name for c in back.categories] == ["car", "person"]  # classes.txt keeps the order
    assert_same_boxes(ls, back, abs_tol=0.0)
    (tmp_path / "voc" / "classes.txt").unlink()
    assert [c.name for c in read_voc(tmp_path / "voc").categories] == ["person", "car"]  # first use


def test_integer_coordinates_by_default(tmp_path):
    """Most VOC readers call int() on the text: the default writes whole pixels (rounded half up,
    so a box never shrinks to nothing), and the 1-based PASCAL convention adds 1 to xmin/ymin."""
    ls = _sample()
    write_voc(ls, tmp_path / "int")
    bb = ET.parse(tmp_path / "int" / "street" / "a.xml").getroot().find("object/bndbox")
    assert [bb.findtext(t) for t in ("xmin", "ymin", "xmax", "ymax")] == ["10", "20", "111", "220"]
    write_voc(ls, tmp_path / "one", one_based=True)
    bb = ET.parse(tmp_path / "one" / "street" / "a.xml").getroot().find("object/bndbox")
    assert [bb.findtext(t) for t in ("xmin", "ymin", "xmax", "ymax")] == ["11", "21", "111", "220"]
    back = read_voc(tmp_path / "one", one_based=True)
    assert back.boxes[3][0].xyxy == (10.0, 20.0, 111.0, 220.0)
    with pytest.raises(ValueError, match="coords"):
        write_voc(ls, tmp_path / "x", coords="half")


def test_xml_layout_and_convention(tmp_path):
    write_voc(_sample(), tmp_path, coords="float")
    root = ET.parse(tmp_path / "street" / "a.xml").getroot()
    assert root.findtext("filename") == "a.jpg"
    assert root.findtext("size/width") == "640" and root.findtext("size/height") == "480"
    objs = root.findall("object")
    assert [o.findtext("name") for o in objs] == ["car", "person"]
    bb = objs[0].find("bndbox")
    # 0-based pixel edges, integers written without ".0"
    assert [bb.findtext(t) for t in ("xmin", "ymin", "xmax", "ymax")] == ["10", "20", "110.5", "220.25"]
    assert ET.parse(tmp_path / "b.xml").getroot().findall("object") == []


def test_one_based_reading(tmp_path):
    xml = ("<annotation><filename>x.jpg</filename><size><width>50</width><height>40</height></size>"
           "<object><name>dog</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>20</ymax>"
           "</bndbox></object></annotation>")
    f = tmp_path / "x.xml"
    f.write_text(xml)
    b0 = read_voc(f).boxes[1][0]
    assert b0.xyxy == (1.0, 1.0, 10.0, 20.0)
    b1 = read_voc(f, one_based=True).boxes[1][0]
    assert b1.xyxy == (0.0, 0.0, 10.0, 20.0)


def test_missing_size_read_from_image(tmp_path):
    Image.fromarray(np.zeros((30, 70, 3), np.uint8)).save(tmp_path / "pic.png")
    f = tmp_path / "ann" / "pic.xml"
    f.parent.mkdir()
    f.write_text("<annotation><filename>pic.png</filename><size><width>0</width><height>0</height></size>"
                 "</annotation>")
    ls = read_voc(f.parent, image_root=tmp_path)
    assert (ls.images[0].width, ls.images[0].height) == (70, 30)
    with pytest.raises(LabelFormatError, match="no image folder"):
        read_voc(f.parent)


def test_class_names_fix_order_and_reject_unknown(tmp_path):
    write_voc(_sample(), tmp_path)
    ls = read_voc(tmp_path, class_names=["person", "car"])
    assert [(c.id, c.name) for c in ls.categories] == [(1, "person"), (2, "car")]
    with pytest.raises(LabelFormatError, match="unknown class 'car'"):
        read_voc(tmp_path, class_names=["person"])


def test_all_problems_in_one_error(tmp_path):
    (tmp_path / "broken.xml").write_text("<annotation><filename>a")
    (tmp_path / "wrong.xml").write_text("<html/>")
    (tmp_path / "nums.xml").write_text(
        "<annotation><filename>n.jpg</filename><size><width>10</width><height>10</height></size>"
        "<object><name>a</name><bndbox><xmin>x</xmin><ymin>0</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"
        "<object><name>a</name><bndbox><xmin>6</xmin><ymin>0</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"
        "<object><name>a</name><bndbox><xmin>60</xmin><ymin>0</ymin><xmax>65</xmax><ymax>5</ymax></bndbox></object>"
        "</annotation>")
    with pytest.raises(LabelFormatError) as ei:
        read_voc(tmp_path)
    text = str(ei.value)
    for fragment in ("broken.xml: invalid XML", "expected <annotation>", "needs numeric", "empty box",
                     "outside the 10x10 image"):
        assert fragment in text, fragment
    with pytest.raises(LabelFormatError, match="not found"):
        read_voc(tmp_path / "nope")


def test_colliding_xml_names_refused(tmp_path):
    ls = LabelSet(categories=[Category(1, "a")], images=[ImageRecord("x.png", id=1, width=5, height=5),
                                                          ImageRecord("x.jpg", id=2, width=5, height=5)])
    with pytest.raises(ValueError, match="both be written"):
        write_voc(ls, tmp_path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ls=label_sets())
def test_random_label_sets_round_trip(tmp_path_factory, ls):
    out = tmp_path_factory.mktemp("voc")
    write_voc(ls, out, coords="float")
    back = read_voc(out)
    assert [c.name for c in back.categories] == [c.name for c in ls.categories]
    assert_same_boxes(ls, back, abs_tol=0.0)


def test_a_size_the_project_store_cannot_hold_is_refused(tmp_path):
    f = tmp_path / "big.xml"
    f.write_text("<annotation><filename>x.jpg</filename><size><width>1e30</width><height>40</height></size>"
                 "</annotation>")
    with pytest.raises(LabelFormatError, match="too large"):
        read_voc(f)
