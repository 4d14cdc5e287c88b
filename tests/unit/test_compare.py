"""ml/compare.py (side-by-side tables, split evaluation errors) and data/snapshot.py (the run's
label snapshot: selection, filtering, errors)."""

from __future__ import annotations

import json

import pytest

from rnxstudio.core.model import Box, ImageRecord, ImageStatus
from rnxstudio.ml.evaluate import ClassResult, EvalResult


def _result(ap, ap50, per_class):
    return EvalResult(metrics={"AP": ap, "AP50": ap50, "AP75": None}, per_class=[
        ClassResult(id=i + 1, name=n, num_gt=1, num_det=1, AP=v, AP50=v, AP75=v) for i, (n, v) in enumerate(per_class)],
        pr_curves={}, confusion_labels=[], confusion=[], per_image={}, num_images=1, num_gt=1, num_det=1,
        score_thresh=0.5)


def test_comparison_table_before_after_with_change_and_missing_values():
    from rnxstudio.ml.compare import comparison_table

    header, rows = comparison_table({"base": _result(0.1, 0.3, [("a", 0.2), ("b", None)]),
                                     "new": _result(0.4, 0.25, [("a", 0.5), ("c", 0.9)])})
    assert header == ["metric", "base", "new", "change"]
    assert rows == [
        ["AP", "0.100", "0.400", "+0.300"],
        ["AP50", "0.300", "0.250", "-0.050"],
        ["AP75", "n/a", "n/a", "n/a"],
        ["AP a", "0.200", "0.500", "+0.300"],
        ["AP b", "n/a", "n/a", "n/a"],
        ["AP c", "n/a", "0.900", "n/a"],
    ]
    header3, rows3 = comparison_table({"x": None, "y": _result(0.5, 0.5, []), "z": _result(0.6, 0.7, [])})
    assert header3 == ["metric", "x", "y", "z"] and rows3[0] == ["AP", "n/a", "0.500", "0.600"]


def test_evaluate_on_split_names_bad_inputs(tmp_path):
    from rnxstudio.data.demo import make_shapes_dataset
    from rnxstudio.ml.compare import evaluate_on_split
    from rnxstudio.ml.train_config import TrainingError

    with pytest.raises(TrainingError, match="missing.json"):
        evaluate_on_split("resnext_tiny_fpn", tmp_path / "missing.json")
    make_shapes_dataset(3, 64, seed=1, out_dir=tmp_path)
    with pytest.raises(TrainingError, match="no_such_model"):
        evaluate_on_split("no_such_model", tmp_path / "annotations.json")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="bad.safetensors"):
        evaluate_on_split(bad, tmp_path / "annotations.json")


@pytest.fixture
def store(tmp_path):
    from rnxstudio.data.demo import make_shapes_dataset
    from rnxstudio.data.store import ProjectStore

    make_shapes_dataset(4, 64, seed=3, out_dir=tmp_path / "imgs", max_objects=1, empty_every=0)
    s = ProjectStore.create(tmp_path / "p.rnxproj", root=tmp_path / "imgs")
    cat = s.add_category("circle").id
    s.add_category("square")
    ids = s.add_images([ImageRecord(path=f"shape_{i:05d}.png", width=64, height=64) for i in range(4)])
    s.add_box(Box(2, 2, 30, 30, cat, image_id=ids[0]))
    s.add_box(Box(5, 5, 40, 40, cat, image_id=ids[1]))
    s.set_status(ids[1], ImageStatus.VERIFIED)
    s.set_status(ids[2], ImageStatus.VERIFIED)  # verified negative (no boxes)
    yield s
    s.close()


def test_snapshot_selections(store, tmp_path):
    from rnxstudio.data.snapshot import new_run_dir, write_snapshot

    a = new_run_dir(tmp_path / "runs")
    b = new_run_dir(tmp_path / "runs")
    assert a != b and a.is_dir() and b.is_dir()
    ver = write_snapshot(store, a, selection="verified")
    coco = json.loads(ver.coco.read_text())
    assert ver.coco == a / "snapshot" / "annotations.json"
    assert sorted(im["file_name"] for im in coco["images"]) == ["shape_00001.png", "shape_00002.png"]
    assert (ver.images, ver.boxes, ver.class_names) == (2, 1, ["circle", "square"])
    assert (ver.image_root / "shape_00001.png").is_file()
    lab = write_snapshot(store, b, selection="labelled")
    coco = json.loads(lab.coco.read_text())
    assert sorted(im["file_name"] for im in coco["images"]) == ["shape_00000.png", "shape_00001.png"]
    assert lab.boxes == 2 and "2 images with boxes" in lab.summary()
    with pytest.raises(ValueError, match="selection"):
        write_snapshot(store, b, selection="everything")


def test_snapshot_with_nothing_to_train_on(store, tmp_path):
    from rnxstudio.data.exchange import ExchangeError
    from rnxstudio.data.snapshot import write_snapshot

    for iid in store.image_ids():
        for bx in store.boxes(iid):
            store.delete_box(bx.id)
    with pytest.raises(ExchangeError, match="no boxes"):
        write_snapshot(store, tmp_path / "r1", selection="verified")
    with pytest.raises(ExchangeError, match="no image has a manual or accepted box"):
        write_snapshot(store, tmp_path / "r2", selection="labelled")
