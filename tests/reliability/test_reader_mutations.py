"""Property tests: VOC and YOLO readers (and the COCO reader through the import path) fed random
byte- and structure-level mutations of valid files either read exactly or raise the one typed
error, LabelFormatError — never another exception type."""

from __future__ import annotations

import copy
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_tree import tree_paths

from rnxstudio.core.model import Box, Category, ImageRecord, LabelSet
from rnxstudio.data.errors import LabelFormatError

pytestmark = pytest.mark.reliability

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """A valid VOC folder, YOLO folder and COCO file for the same small label set + header PNGs."""
    from rnxstudio.data.coco import write_coco
    from rnxstudio.data.demo import encode_png
    from rnxstudio.data.voc import write_voc
    from rnxstudio.data.yolo import write_yolo
    import numpy as np

    root = tmp_path_factory.mktemp("mut")
    images = root / "images"
    images.mkdir()
    recs = []
    for k, (w, h) in enumerate([(64, 48), (80, 80), (40, 60)]):
        (images / f"im{k}.png").write_bytes(encode_png(np.zeros((h, w, 3), np.uint8)))
        recs.append(ImageRecord(f"im{k}.png", id=k + 1, width=w, height=h))
    cats = [Category(1, "cat"), Category(2, "dog"), Category(3, "bird")]
    boxes = {1: [Box(1, 2, 30, 40, 1, image_id=1), Box(10.5, 3.25, 50, 20, 2, image_id=1)],
             2: [Box(0, 0, 80, 80, 3, image_id=2)], 3: []}
    ls = LabelSet(categories=cats, images=recs, boxes=boxes, root=str(images))
    write_voc(ls, root / "voc")
    write_yolo(ls, root / "yolo")
    write_coco(ls, root / "coco.json")
    return root


def _read_voc(folder: Path, images: Path):
    from rnxstudio.data.voc import read_voc

    return read_voc(folder, image_root=images)


def _read_yolo(folder: Path, images: Path):
    from rnxstudio.data.yolo import read_yolo

    return read_yolo(folder, images)


def _only_typed_errors(read, *args):
    try:
        read(*args)
    except LabelFormatError as exc:
        assert str(exc).strip(), "a LabelFormatError must say what is wrong"
    # any other exception type propagates and fails the test


def _mutate_bytes(data: bytes, draw) -> bytes:
    op = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "dup"]))
    if not data:
        return draw(st.binary(max_size=20))
    i = draw(st.integers(0, len(data) - 1))
    if op == "truncate":
        return data[:i]
    if op == "flip":
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
    if op == "insert":
        return data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i:]
    if op == "delete":
        return data[:i] + data[i + draw(st.integers(1, 8)):]
    return data[:i] + data[i:i + 16] + data[i:]


@SETTINGS
@given(data=st.data())
def test_voc_byte_mutations(valid, tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("voc")
    shutil.copytree(valid / "voc", folder, dirs_exist_ok=True)
    target = data.draw(st.sampled_from(sorted(p.name for p in folder.iterdir())))
    (folder / target).write_bytes(_mutate_bytes((folder / target).read_bytes(), data.draw))
    _only_typed_errors(_read_voc, folder, valid / "images")


XML_VALUES = st.one_of(st.text(max_size=6), st.sampled_from(["-1", "0", "1e309", "nan", "inf", "9999999",
                                                             "1.5", "", " 3 ", "0x10", "１２"]))


@SETTINGS
@given(data=st.data())
def test_voc_structure_mutations(valid, tmp_path_factory, data):
    """Change a field's text, drop an element or duplicate one, in a parsed XML."""
    folder = tmp_path_factory.mktemp("vocs")
    shutil.copytree(valid / "voc", folder, dirs_exist_ok=True)
    xml = folder / "im0.xml"
    tree = ET.parse(xml)
    elements = [e for e in tree.getroot().iter() if e is not tree.getroot()]
    el = data.draw(st.sampled_from(elements))
    op = data.draw(st.sampled_from(["text", "drop", "dup"]))
    if op == "text":
        el.text = data.draw(XML_VALUES)
    else:
        parent = next(p for p in tree.getroot().iter() if el in list(p))
        if op == "drop":
            parent.remove(el)
        else:
            parent.append(ET.fromstring(ET.tostring(el)))
    tree.write(xml)
    _only_typed_errors(_read_voc, folder, valid / "images")


@SETTINGS
@given(data=st.data())
def test_yolo_byte_mutations(valid, tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("yolo")
    shutil.copytree(valid / "yolo", folder, dirs_exist_ok=True)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    target = folder / data.draw(st.sampled_from(files))
    target.write_bytes(_mutate_bytes(target.read_bytes(), data.draw))
    _only_typed_errors(_read_yolo, folder, valid / "images")


YOLO_TOKENS = st.sampled_from(["0", "1", "2", "3", "-1", "0.5", "1.5", "-0.1", "nan", "inf", "1e-320", "x", "",
                               "0.0", "1", "99", "2.5e-1"])


@SETTINGS
@given(data=st.data())
def test_yolo_line_mutations(valid, tmp_path_factory, data):
    """Random label lines: 0-9 tokens of numbers, out-of-range values and garbage."""
    folder = tmp_path_factory.mktemp("yolol")
    shutil.copytree(valid / "yolo", folder, dirs_exist_ok=True)
    lines = data.draw(st.lists(st.lists(YOLO_TOKENS, max_size=9).map(" ".join), max_size=4))
    (folder / "labels" / "im1.txt").write_text("\n".join(lines) + "\n")
    _only_typed_errors(_read_yolo, folder, valid / "images")


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=False),
                        st.text(max_size=5), st.just([]), st.just({}), st.just([1, 2]), st.just(["a"] * 4))


@SETTINGS
@given(data=st.data())
def test_coco_structure_mutations_through_import(valid, tmp_path_factory, data):
    """COCO through the import path: exact import, or one error with the project unchanged."""
    from rnxstudio.data.exchange import ExchangeError, import_labels
    from rnxstudio.data.project import open_project
    from rnxstudio.data.store import ProjectStore

    work = tmp_path_factory.mktemp("coco")
    doc = json.loads((valid / "coco.json").read_text())
    paths = [p for p in tree_paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            # deepcopy: st.just() hands out one shared object, and inserting it twice could
            # make the document contain itself
            parent[path[-1]] = copy.deepcopy(data.draw(JSON_VALUES))
        paths = [p for p in tree_paths(doc) if p]
        if not paths:
            break
    src = work / "mut.json"
    src.write_text(json.dumps(doc))
    project = work / "p.rnxproj"
    with ProjectStore.create(project, root=valid / "images") as store:
        store.add_images([ImageRecord(f"im{k}.png") for k in range(3)])
    with open_project(project, sync=False) as store:
        before = "\n".join(store._conn.iterdump())
        try:
            import_labels(store, src, "coco")
        except (LabelFormatError, ExchangeError) as exc:
            assert str(exc).strip()
            assert "\n".join(store._conn.iterdump()) == before
