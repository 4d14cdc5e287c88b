"""`rnxstudio import` / `rnxstudio export` end to end, in-process through cli.main."""

from __future__ import annotations

import json

import pytest

from rnxstudio.cli import main
from rnxstudio.core.model import ImageStatus
from rnxstudio.data.demo import make_shapes_dataset
from rnxstudio.data.project import open_project


@pytest.fixture
def dataset(tmp_path):
    folder = tmp_path / "shapes"
    make_shapes_dataset(6, 96, seed=3, out_dir=folder)
    truth = json.loads((folder / "annotations.json").read_text())
    return folder, truth


def _boxes_by_file(coco: dict) -> dict[str, list]:
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    out: dict[str, list] = {f: [] for f in files.values()}
    for a in coco["annotations"]:
        out[files[a["image_id"]]].append((names[a["category_id"]], *a["bbox"]))
    return {k: sorted(v) for k, v in out.items()}


def test_import_then_export_coco_round_trip(dataset, tmp_path, capsys):
    folder, truth = dataset
    assert main(["import", str(folder), str(folder / "annotations.json")]) == 0
    assert "boxes added on 6 images" in capsys.readouterr().out
    out = tmp_path / "export"
    assert main(["export", str(folder), "--format", "coco", "--out", str(out)]) == 0
    exported = json.loads((out / "annotations.json").read_text())
    want, got = _boxes_by_file(truth), _boxes_by_file(exported)
    assert want.keys() == got.keys()
    for name in want:
        assert len(want[name]) == len(got[name])
        for w, g in zip(want[name], got[name]):
            assert w[0] == g[0] and all(abs(a - b) <= 1e-6 for a, b in zip(w[1:], g[1:]))
    assert {c["id"]: c["name"] for c in exported["categories"]} == {c["id"]: c["name"] for c in truth["categories"]}
    from pycocotools.coco import COCO

    coco = COCO(str(out / "annotations.json"))
    assert len(coco.getImgIds()) == 6


def test_import_twice_adds_nothing(dataset, capsys):
    folder, _ = dataset
    main(["import", str(folder), str(folder / "annotations.json")])
    capsys.readouterr()
    assert main(["import", str(folder), str(folder / "annotations.json")]) == 0
    assert "0 boxes added" in capsys.readouterr().out


def test_verified_only(dataset, tmp_path, capsys):
    folder, _ = dataset
    main(["import", str(folder), str(folder / "annotations.json")])
    assert main(["export", str(folder), "--out", str(tmp_path / "v"), "--verified-only"]) == 2
    assert "no image is marked verified" in capsys.readouterr().err
    with open_project(folder) as store:
        store.set_status(store.image_ids()[1], ImageStatus.VERIFIED)
    assert main(["export", str(folder), "--out", str(tmp_path / "v" / "one.json"), "--verified-only"]) == 0
    assert len(json.loads((tmp_path / "v" / "one.json").read_text())["images"]) == 1


def test_bad_label_file_imports_nothing(dataset, tmp_path, capsys):
    folder, truth = dataset
    bad = tmp_path / "bad.json"
    truth["annotations"][-1]["category_id"] = 999
    bad.write_text(json.dumps(truth))
    assert main(["import", str(folder), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") >= 1 and "bad.json" in err and "Traceback" not in err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["import", str(folder), str(broken)]) == 2
    with open_project(folder) as store:
        assert store.count_boxes() == 0 and store.categories() == []


@pytest.mark.parametrize("args, message", [
    (["import", "{tmp}/nowhere", "{tmp}/x.json"], "no such file"),
    (["import", "{folder}", "{tmp}/missing.json"], "missing.json"),
    (["import", "{folder}", "{tmp}"], "cannot tell the label format"),
    (["export", "{tmp}/nowhere", "--out", "{tmp}/o"], "nowhere"),
])
def test_user_errors_are_one_line(dataset, tmp_path, capsys, args, message):
    folder, _ = dataset
    argv = [a.format(tmp=tmp_path / "empty", folder=folder) for a in args]
    (tmp_path / "empty").mkdir()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("fmt", ["voc", "yolo"])
def test_voc_yolo_round_trip(dataset, tmp_path, capsys, fmt):
    folder, _ = dataset
    main(["import", str(folder), str(folder / "annotations.json")])
    out = tmp_path / fmt
    exact = ["--voc-coords", "float"] if fmt == "voc" else []  # VOC writes whole pixels by default
    assert main(["export", str(folder), "--format", fmt, "--out", str(out), *exact]) == 0
    def named_boxes(store):
        names = {c.id: c.name for c in store.categories()}
        return {store.image(i).path: sorted((names[b.category_id], *b.xyxy) for b in store.boxes(i))
                for i in store.image_ids()}

    with open_project(folder) as store:
        before = named_boxes(store)
    other = tmp_path / "copy"
    other.mkdir()
    for p in folder.glob("*.png"):
        (other / p.name).write_bytes(p.read_bytes())
    assert main(["import", str(other), str(out)]) == 0, capsys.readouterr().err
    with open_project(other) as store:
        after = named_boxes(store)
    assert after.keys() == before.keys()
    for k in before:
        assert len(after[k]) == len(before[k])
        for b, a in zip(before[k], after[k]):
            assert a[0] == b[0] and all(abs(x - y) <= 1e-4 for x, y in zip(a[1:], b[1:]))


def test_video_export_writes_frames(tmp_path, capsys):
    from rnxstudio.data.demo import make_shapes_video

    video = tmp_path / "clip.avi"
    make_shapes_video(video, n_frames=8, size=(96, 64))
    gt = video.with_suffix(".json")
    with open_project(video) as store:
        assert store.count_images() == 8
    out = tmp_path / "out"
    if gt.exists():
        assert main(["import", str(video), str(gt)]) == 0, capsys.readouterr().err
    assert main(["export", str(video), "--out", str(out)]) == 0
    coco = json.loads((out / "annotations.json").read_text())
    assert len(coco["images"]) == 8
    for im in coco["images"]:
        assert (out / im["file_name"]).is_file() and im["file_name"].startswith("frames/")
    # re-importing our own export into the video project finds every frame and adds nothing
    capsys.readouterr()
    assert main(["import", str(video), str(out / "annotations.json")]) == 0
    text = capsys.readouterr()
    assert "0 boxes added on 8 images" in text.out and "not in project" not in text.err


def test_export_provenance_and_corrected_only(dataset, tmp_path, capsys):
    """Issue 15 item 16 on the command line: provenance attributes on request, and only the
    images a person corrected (imported boxes count as drawn)."""
    folder, _truth = dataset
    main(["import", str(folder), str(folder / "annotations.json")])
    out = tmp_path / "p.json"
    assert main(["export", str(folder), "--out", str(out), "--provenance"]) == 0
    anns = json.loads(out.read_text())["annotations"]
    assert anns and {a["attributes"]["provenance"] for a in anns} == {"drawn"}
    assert main(["export", str(folder), "--out", str(tmp_path / "plain.json")]) == 0
    assert all("attributes" not in a for a in json.loads((tmp_path / "plain.json").read_text())["annotations"])
    assert main(["export", str(folder), "--format", "voc", "--out", str(tmp_path / "v"), "--provenance"]) == 2
    assert main(["export", str(folder), "--out", str(tmp_path / "c.json"), "--corrected-only"]) == 0
    assert len(json.loads((tmp_path / "c.json").read_text())["images"]) == 6
