"""COCO/VOC/YOLO imports are exact or one clear error with nothing half-imported (CLI and GUI),
and file names from label files never make the app read or write outside the project's roots."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import make_labelled_folder, store_dump
from rnxstudio.cli import main as cli_main
from rnxstudio.data import images as images_mod
from rnxstudio.data.coco import read_coco, write_coco
from rnxstudio.data.exchange import ExchangeError, export_labels, import_labels
from rnxstudio.data.project import open_project

pytestmark = pytest.mark.reliability


@pytest.fixture
def project(tmp_path):
    """(project file, folder, truth COCO dict) with one image already labelled by hand."""
    from rnxstudio.core.model import Box

    folder = make_labelled_folder(tmp_path)
    truth = json.loads((tmp_path / "truth.json").read_text())
    with open_project(folder) as store:
        cat = store.add_category("circle")
        store.add_box(Box(2, 2, 20, 20, cat.id, image_id=store.image_ids()[0]))
        path = store.path
    return path, folder, truth


def _bad_cocos(truth: dict) -> dict[str, str]:
    """Name -> file text; each has something wrong late in the file."""
    late_bad_cat = json.loads(json.dumps(truth))
    late_bad_cat["annotations"][-1]["category_id"] = 99
    late_bad_box = json.loads(json.dumps(truth))
    late_bad_box["annotations"][-1]["bbox"] = [1, 1, -5, 3]
    dup_image = json.loads(json.dumps(truth))
    dup_image["images"].append(dict(dup_image["images"][0]))
    nan = json.dumps(truth).replace('"area": ', '"score": NaN, "area": ', 1)
    text = json.dumps(truth)
    return {
        "bad-category-last": json.dumps(late_bad_cat),
        "negative-width-last": json.dumps(late_bad_box),
        "duplicate-image": json.dumps(dup_image),
        "nan-score": nan,
        "truncated": text[: len(text) // 2],
        "not-json": "\x89PNG\r\n\x1a\n",
        "a-list": "[1, 2, 3]",
        "utf16": text.encode("utf-16").decode("latin-1"),
    }


@pytest.mark.parametrize("case", ["bad-category-last", "negative-width-last", "duplicate-image", "nan-score",
                                  "truncated", "not-json", "a-list", "utf16"])
def test_cli_import_of_invalid_coco_is_one_error_and_changes_nothing(project, tmp_path, capsys, case):
    path, _folder, truth = project
    bad = tmp_path / "bad.json"
    bad.write_text(_bad_cocos(truth)[case], encoding="latin-1" if case == "utf16" else "utf-8")
    before = store_dump(path)
    assert cli_main(["import", str(path), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(bad) in err and "Traceback" not in err and err.count("\n") == 0, err
    assert store_dump(path) == before


def test_cli_import_of_a_valid_file_is_exact(project, tmp_path, capsys):
    path, folder, truth = project
    good = tmp_path / "truth.json"
    assert cli_main(["import", str(path), str(good)]) == 0
    with open_project(path) as store:
        ls = store.to_labelset()
        by_name = {c.id: c.name for c in ls.categories}
        got = sorted((r.path, by_name[b.category_id], b.xyxy) for r in ls.images for b in ls.boxes[r.id])
    names = {c["id"]: c["name"] for c in truth["categories"]}
    files = {im["id"]: im["file_name"] for im in truth["images"]}
    want = [(files[a["image_id"]], names[a["category_id"]],
             (a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]))
            for a in truth["annotations"]]
    want.append(("shape_00000.png", "circle", (2.0, 2.0, 20.0, 20.0)))  # the hand-made box is kept
    assert got == sorted(want)


@pytest.mark.parametrize("fmt", ["voc", "yolo"])
def test_cli_import_of_broken_voc_yolo_changes_nothing(project, tmp_path, capsys, fmt):
    path, folder, _truth = project
    src = tmp_path / f"src_{fmt}"
    with open_project(path) as store:
        ls = read_coco(tmp_path / "truth.json", image_root=folder)
        scratch = tmp_path / "scratch.json"
        write_coco(ls, scratch)
        export_labels(store, fmt, src)
    files = sorted(src.rglob("*.xml" if fmt == "voc" else "labels/*.txt"))
    assert files
    if fmt == "voc":
        files[-1].write_text(files[-1].read_text().replace("<xmax>", "<xmax>-", 1) + "<broken")
    else:
        files[-1].write_text("0 0.5 0.5 0.1\n7 nan 0.5 0.1 0.1\n")
    before = store_dump(path)
    assert cli_main(["import", str(path), str(src), "--format", fmt]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and files[-1].name in err
    assert store_dump(path) == before


def test_failure_in_the_middle_of_an_import_rolls_back(project, tmp_path, monkeypatch):
    """A database error after some boxes were written (disk full, I/O error): nothing is kept."""
    import sqlite3

    from rnxstudio.data.store import ProjectStore

    path, _folder, _truth = project
    before = store_dump(path)
    real = ProjectStore._insert_box
    calls = []

    def flaky(self, box, keep_id, model_name=None):
        calls.append(box)
        if len(calls) == 3:
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, box, keep_id, model_name)

    monkeypatch.setattr(ProjectStore, "_insert_box", flaky)
    with open_project(path) as store, pytest.raises(ExchangeError, match="nothing was imported"):
        import_labels(store, tmp_path / "truth.json")
    assert len(calls) == 3
    assert store_dump(path) == before


@pytest.mark.gui
def test_gui_import_of_invalid_coco_shows_one_error_and_changes_nothing(window, qtbot, project, tmp_path,
                                                                        monkeypatch):
    from window_helpers import wait_for_image

    path, _folder, truth = project
    assert window.open_path(path)
    wait_for_image(qtbot, window)
    shown = []
    real = window.show_error
    monkeypatch.setattr(window, "show_error", lambda t, m: (shown.append((t, m)), real(t, m)))
    store = window.controller.store
    for n, (case, text) in enumerate(_bad_cocos(truth).items()):
        bad = tmp_path / f"bad_{case}.json"
        bad.write_text(text, encoding="latin-1" if case == "utf16" else "utf-8")
        before = store_dump(store.path)
        assert window.features.exchange.import_file(str(bad)) is None
        assert len(shown) == n + 1 and str(bad) in shown[-1][1], case
        assert store_dump(store.path) == before
    report = window.features.exchange.import_file(str(tmp_path / "truth.json"))  # still works afterwards
    assert report is not None and report.added_boxes == len(truth["annotations"])


# ---------------------------------------------------------------------------- paths


@pytest.fixture
def outside(tmp_path):
    """A real image outside the project's root (what a hostile file name would point at)."""
    secret_dir = tmp_path / "outside"
    secret_dir.mkdir()
    make_labelled_folder(secret_dir, n=1, size=(64, 48), seed=1)
    secret = secret_dir / "imgs" / "secret.png"
    (secret_dir / "imgs" / "shape_00000.png").rename(secret)
    return secret


def _hostile_coco(outside, with_sizes: bool) -> dict:
    names = ["../outside/imgs/secret.png", "../../outside/imgs/secret.png", str(outside),
             "..\\outside\\imgs\\secret.png", "../../../../../../etc/x"]
    images = [{"id": k + 1, "file_name": n} for k, n in enumerate(names)]
    if with_sizes:
        for im in images:
            im.update(width=64, height=48)
    return {"images": images, "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": k + 1, "image_id": k + 1, "category_id": 1, "bbox": [1, 1, 5, 5]}
                            for k in range(len(names))]}


def _spy_reads(monkeypatch) -> list[str]:
    """Record every path the image module is asked to read (size or pixels)."""
    seen: list[str] = []
    for name in ("read_size", "load"):
        real = getattr(images_mod, name)

        def spy(path, *a, _real=real, **k):
            seen.append(str(path))
            return _real(path, *a, **k)

        monkeypatch.setattr(images_mod, name, spy)
    return seen


def _inside(path: str, roots) -> bool:
    import os

    full = os.path.abspath(path)
    return any(os.path.commonpath([full, os.path.abspath(r)]) == os.path.abspath(r) for r in roots)


def test_hostile_file_names_never_read_outside_the_root(project, tmp_path, outside, monkeypatch):
    path, folder, _ = project
    seen = _spy_reads(monkeypatch)
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps(_hostile_coco(outside, with_sizes=False)))
    with open_project(path) as store:
        before = store_dump(path)
        with pytest.raises(Exception) as info:  # sizes cannot be read: one typed error naming the file
            import_labels(store, hostile)
        assert type(info.value).__name__ == "LabelFormatError" and "not found" in str(info.value)
        assert store_dump(path) == before
    assert all(_inside(p, [folder]) for p in seen), seen


def test_hostile_file_names_import_export_and_video_frames_stay_inside(project, tmp_path, outside, monkeypatch):
    path, folder, _ = project
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps(_hostile_coco(outside, with_sizes=True)))
    outside_before = sorted(p.name for p in outside.parent.iterdir())
    seen = _spy_reads(monkeypatch)
    with open_project(path) as store:
        report = import_labels(store, hostile)
        images_before = [(r.id, r.path) for r in store.images()]
        assert all(not r.path.startswith("..") and "/.." not in r.path for r in store.images())
        assert len(report.unmatched_files) == 5  # no project image has those names
        for fmt in ("coco", "voc", "yolo"):
            out = tmp_path / f"export_{fmt}"
            export_labels(store, fmt, out)
            assert all(_inside(str(p), [out]) for p in out.rglob("*"))
        assert [(r.id, r.path) for r in store.images()] == images_before
    assert sorted(p.name for p in outside.parent.iterdir()) == outside_before
    assert all(_inside(p, [folder]) for p in seen), seen


def test_voc_yolo_writers_keep_dotdot_names_inside_the_folder(tmp_path):
    """A LabelSet read from a hostile COCO file (names with ..) written as VOC/YOLO stays inside."""
    from rnxstudio.data.voc import write_voc
    from rnxstudio.data.yolo import write_yolo

    src = tmp_path / "hostile.json"
    src.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "../../escape/a.png", "width": 10, "height": 10},
                   {"id": 2, "file_name": "/abs/b.png", "width": 10, "height": 10}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3]}]}))
    ls = read_coco(src)
    out = tmp_path / "deep" / "er" / "out"
    write_voc(ls, out / "voc")
    write_yolo(ls, out / "yolo")
    escaped = [p for p in tmp_path.rglob("*") if p.is_file() and not _inside(str(p), [out]) and p != src]
    assert escaped == []


def test_video_frame_export_names_stay_in_frames_folder(tmp_path):
    from rnxstudio.data.demo import make_shapes_video

    video = tmp_path / "clip.avi"
    make_shapes_video(video, n_frames=3, size=(64, 48), seed=2)
    with open_project(video) as store:
        cat = store.add_category("x")
        from rnxstudio.core.model import Box

        store.add_box(Box(1, 1, 9, 9, cat.id, image_id=store.image_ids()[1]))
        out = tmp_path / "out"
        result = export_labels(store, "coco", out)
    data = json.loads((out / "annotations.json").read_text())
    assert result.images == 3
    for im in data["images"]:
        assert im["file_name"].startswith("frames/") and ".." not in im["file_name"]
        assert (out / im["file_name"]).is_file()


@pytest.mark.gui
def test_gui_never_opens_an_image_outside_the_root(window, qtbot, project, tmp_path, outside, monkeypatch):
    from window_helpers import wait_for_image

    path, folder, _ = project
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps(_hostile_coco(outside, with_sizes=True)))
    requested = []
    assert window.open_path(path)
    cache = window.controller.cache
    real_request, real_prefetch = cache.request, cache.prefetch
    monkeypatch.setattr(cache, "request", lambda key, src: (requested.append(src), real_request(key, src))[1])
    monkeypatch.setattr(cache, "prefetch", lambda items: (requested.extend(s for _k, s in items), real_prefetch(items))[1])
    wait_for_image(qtbot, window)
    assert window.features.exchange.import_file(str(hostile)) is not None
    for _ in range(len(window.controller.files.ids())):
        window.controller.step(+1)
        wait_for_image(qtbot, window)
    assert requested and all(_inside(str(s), [folder]) for s in requested), requested
    shutil.rmtree(outside.parent)  # nothing depended on it
