"""YOLO txt: exact normalised round trips, fixed class order, data.yaml forms, problems reported."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from labelset_strategies import label_sets

from rnxstudio.core.model import Box, Category, ImageRecord, LabelSet
from rnxstudio.data.errors import LabelFormatError
from rnxstudio.data.yolo import _names_from_yaml, read_class_names, read_yolo, write_yolo


def _header_png(path: Path, width: int, height: int) -> None:
    """A PNG whose header declares width x height (read_size needs nothing more)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + iend)


def _materialise(ls: LabelSet, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for im in ls.images:
        _header_png(root / im.path, im.width, im.height)


def _norm(box: Box, im: ImageRecord) -> tuple[float, float, float, float]:
    return ((box.x1 + box.x2) / 2 / im.width, (box.y1 + box.y2) / 2 / im.height,
            box.width / im.width, box.height / im.height)


def _assert_round_trip(ls: LabelSet, back: LabelSet) -> None:
    assert [c.name for c in back.categories] == [c.name for c in ls.categories]
    pos = {c.id: k for k, c in enumerate(ls.categories)}
    by_path = {im.path: im for im in back.images}
    assert set(by_path) == {im.path for im in ls.images}
    for im in ls.images:
        other = by_path[im.path]
        a, b = ls.boxes_for(im), back.boxes_for(other)
        assert len(a) == len(b)
        for p, q in zip(a, b):
            assert pos[p.category_id] == q.category_id - 1
            for u, v in zip(_norm(p, im), _norm(q, other)):
                assert math.isclose(u, v, rel_tol=1e-6, abs_tol=1e-12), (p, q)


def _sample() -> LabelSet:
    return LabelSet(
        categories=[Category(7, "zebra"), Category(2, "apple"), Category(40, "mango")],  # not sorted
        images=[ImageRecord("sub/a.png", id=1, width=640, height=480),
                ImageRecord("b.png", id=2, width=100, height=50)],
        boxes={1: [Box(10, 20, 110.5, 220.25, 2), Box(0, 0, 640, 480, 7)]},
    )


def test_round_trip_and_files(tmp_path):
    ls = _sample()
    _materialise(ls, tmp_path / "images")
    write_yolo(ls, tmp_path / "ds")
    assert (tmp_path / "ds" / "classes.txt").read_text() == "zebra\napple\nmango\n"
    assert (tmp_path / "ds" / "labels" / "b.txt").read_text() == ""
    first = (tmp_path / "ds" / "labels" / "sub" / "a.txt").read_text().splitlines()[0].split()
    assert first[0] == "1"  # apple is class 1: the project's order, not alphabetical or by id
    assert _names_from_yaml((tmp_path / "ds" / "data.yaml").read_text()) == ["zebra", "apple", "mango"]
    back = read_yolo(tmp_path / "ds", tmp_path / "images")
    _assert_round_trip(ls, back)
    # the labels folder itself works too, and names come from the parent's classes.txt
    _assert_round_trip(ls, read_yolo(tmp_path / "ds" / "labels", tmp_path / "images"))


def test_class_order_never_changes(tmp_path):
    ls = _sample()
    _materialise(ls, tmp_path / "images")
    write_yolo(ls, tmp_path / "ds")
    (tmp_path / "ds" / "classes.txt").unlink()
    back = read_yolo(tmp_path / "ds", tmp_path / "images")  # from data.yaml now
    assert [c.name for c in back.categories] == ["zebra", "apple", "mango"]
    given_names = read_yolo(tmp_path / "ds", tmp_path / "images", class_names=["z", "a", "m"])
    assert [c.name for c in given_names.categories] == ["z", "a", "m"]


@pytest.mark.parametrize("text,expected", [
    ("nc: 2\nnames: ['circle', 'square']\n", ["circle", "square"]),
    ('names: ["a, b", c]  # comment\n', ["a, b", "c"]),
    ("path: .\nnames:\n  0: person\n  1: 'bi cycle'\ntrain: x\n", ["person", "bi cycle"]),
    ("names:\n- cat\n- dog # pet\nnc: 2\n", ["cat", "dog"]),
    ("names: {0: a, 1: b}\n", ["a", "b"]),
    ("train: x\n", None),
])
def test_data_yaml_forms(text, expected):
    assert _names_from_yaml(text) == expected


def test_missing_class_names_is_an_error(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "imgs").mkdir()
    with pytest.raises(LabelFormatError, match="no class names"):
        read_yolo(tmp_path, tmp_path / "imgs")
    assert read_class_names(tmp_path) is None


def test_problems_reported_together(tmp_path):
    imgs = tmp_path / "imgs"
    _header_png(imgs / "a.png", 100, 100)
    _header_png(imgs / "b.png", 100, 100)
    lab = tmp_path / "labels"
    lab.mkdir()
    (tmp_path / "classes.txt").write_text("x\ny\n")
    (lab / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.1 0.1\n0 0.5 nan 0.1 0.1\n0 0.5 0.5\n0 0.95 0.5 0.3 0.1\n")
    (lab / "b.txt").write_text("1 0.5 0.5 -0.1 0.1\n")
    (lab / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(LabelFormatError) as ei:
        read_yolo(tmp_path, imgs)
    text = str(ei.value)
    for fragment in ("a.txt line 2: class 5", "line 3: non-finite", "line 4: expected 5 values",
                     "line 5: box is not inside", "b.txt line 1: width and height", "ghost.txt: no matching image"):
        assert fragment in text, fragment


def test_polygon_and_score_lines(tmp_path):
    imgs = tmp_path / "imgs"
    _header_png(imgs / "a.png", 200, 100)
    (tmp_path / "classes.txt").write_text("x\n")
    (tmp_path / "a.txt").write_text("0 0.1 0.2 0.3 0.2 0.3 0.6 0.1 0.6\n0 0.5 0.5 0.2 0.2 0.87\n")
    ls = read_yolo(tmp_path, imgs)
    poly, scored = ls.boxes[1]
    assert poly.xyxy == pytest.approx((20.0, 20.0, 60.0, 60.0))
    assert scored.score == pytest.approx(0.87)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ls=label_sets())
def test_random_label_sets_round_trip(tmp_path_factory, ls):
    base = tmp_path_factory.mktemp("yolo")
    _materialise(ls, base / "images")
    write_yolo(ls, base / "ds")
    _assert_round_trip(ls, read_yolo(base / "ds", base / "images"))
