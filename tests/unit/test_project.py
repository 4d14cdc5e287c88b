"""open_project: folder/video/project-file resolution, re-open, sync with the disk, errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from rnxstudio.core.model import Box, ImageStatus
from rnxstudio.core.paths import projects_dir
from rnxstudio.data.project import (
    ProjectError,
    create_project,
    fill_image_sizes,
    open_project,
    project_file_for,
    sync_folder,
)


def _png(path, w=32, h=24):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "photos"
    for name in ("img10.png", "img2.png", "img1.png"):
        _png(d / name)
    _png(d / "nested" / "deep.png")
    (d / "notes.txt").write_text("not an image")
    return d


def _listing(d):
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*"))


def test_folder_project_lives_in_user_data_dir(folder):
    before = _listing(folder)
    with open_project(folder) as store:
        assert store.path.parent == projects_dir() and store.path == project_file_for(folder)
        # sub-folders are searched by default; paths are relative to the opened folder
        assert [store.image(i).path for i in store.image_ids()] == ["img1.png", "img2.png", "img10.png",
                                                                    "nested/deep.png"]
        assert store.kind == "folder" and store.root == folder.resolve()
        cat = store.add_category("thing")
        first = store.image_ids()[0]
        store.set_image_size(first, 32, 24)
        store.add_box(Box(1, 1, 10, 10, cat.id, image_id=first))
    assert _listing(folder) == before  # nothing written into the user's folder
    assert not list(projects_dir().glob(".*creating*"))
    with open_project(str(folder) + os.sep) as again:  # same folder, spelled differently
        assert again.path == store.path
        assert len(again.boxes(first)) == 1


def test_recursive_choice_is_remembered(folder, tmp_path):
    with open_project(folder, recursive=True) as store:
        assert "nested/deep.png" in [r.path for r in store.images()]
        _png(folder / "nested" / "new.png")
    with open_project(folder) as store:
        assert "nested/new.png" in [r.path for r in store.images()]
    flat = tmp_path / "flat"
    _png(flat / "a.png")
    _png(flat / "sub" / "b.png")
    with open_project(flat, recursive=False) as store:
        assert [r.path for r in store.images()] == ["a.png"]
        _png(flat / "sub" / "c.png")
    with open_project(flat, recursive=True) as store:  # the stored choice wins on later opens
        assert [r.path for r in store.images()] == ["a.png"]


def test_sync_flags_missing_keeps_boxes_and_adds_new(folder):
    with open_project(folder) as store:
        cat = store.add_category("thing")
        (iid,) = [i for i in store.image_ids() if store.image(i).path == "img2.png"]
        store.set_image_size(iid, 32, 24)
        store.add_box(Box(1, 1, 10, 10, cat.id, image_id=iid))
    (folder / "img2.png").unlink()
    _png(folder / "img3.png")
    with open_project(folder) as store:
        recs = {r.path: r for r in store.images()}
        assert recs["img2.png"].missing and len(store.boxes(iid)) == 1
        assert "img3.png" in recs and not recs["img3.png"].missing
        assert [store.image(i).path for i in store.image_ids()] == ["img1.png", "img2.png", "img3.png", "img10.png",
                                                                    "nested/deep.png"]
        _png(folder / "img2.png")
        report = sync_folder(store)
        assert report.restored == ["img2.png"] and not report.added and not report.missing
        assert not store.image(iid).missing
        assert not sync_folder(store).changed


def test_project_file_opens_directly_and_chosen_location(folder, tmp_path):
    target = tmp_path / "mine" / "labels"
    with create_project(folder, target) as store:
        assert store.path.name == "labels.rnxproj" and store.count_images() == 4
    with open_project(tmp_path / "mine" / "labels.rnxproj") as store:
        assert store.source == folder.resolve()
    with pytest.raises(ProjectError, match="already exists"):
        create_project(folder, target.with_suffix(".rnxproj"))
    assert not projects_dir().exists() or not list(projects_dir().iterdir())


def test_image_file_opens_its_folder(folder):
    with open_project(folder / "img2.png") as store:
        assert store.path == project_file_for(folder)


@pytest.mark.parametrize("case", ["missing", "empty", "text", "project_missing", "damaged"])
def test_errors_name_the_path(tmp_path, case):
    if case == "missing":
        path = tmp_path / "nowhere"
    elif case == "empty":
        path = tmp_path / "empty"
        path.mkdir()
        (path / "readme.txt").write_text("x")
    elif case == "text":
        path = tmp_path / "notes.txt"
        path.write_text("hello")
    elif case == "project_missing":
        path = tmp_path / "gone.rnxproj"
    else:
        path = tmp_path / "bad.rnxproj"
        path.write_bytes(b"\x00" * 100)
    with pytest.raises(ProjectError) as info:
        open_project(path)
    assert str(path) in str(info.value)
    assert not projects_dir().exists() or not list(projects_dir().iterdir())  # nothing half-made


def test_empty_folder_hint_mentions_subfolders(tmp_path):
    _png(tmp_path / "only" / "sub" / "a.png")
    with pytest.raises(ProjectError, match="sub-folders"):
        open_project(tmp_path / "only", recursive=False)
    with open_project(tmp_path / "only") as store:  # recursive by default
        assert [r.path for r in store.images()] == ["sub/a.png"]


def test_damaged_project_of_a_folder(folder):
    open_project(folder).close()
    project_file_for(folder).write_bytes(b"garbage" * 10)
    with pytest.raises(ProjectError, match="damaged"):
        open_project(folder)


def test_fill_image_sizes_reads_headers_and_records_errors(folder):
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with open_project(folder) as store:
        assert all(r.width == 0 for r in store.images())
        assert fill_image_sizes(store) == 4  # nested/deep.png too
        recs = {r.path: r for r in store.images()}
        assert (recs["img1.png"].width, recs["img1.png"].height) == (32, 24)
        assert recs["broken.png"].width == 0 and "broken.png" in (recs["broken.png"].error or "")


def test_video_project_one_record_per_frame(tmp_path):
    from rnxstudio.data.demo import make_shapes_video

    video = tmp_path / "clip.avi"
    make_shapes_video(video, n_frames=12, size=(96, 64))
    before = _listing(tmp_path)
    with open_project(video) as store:
        recs = store.images()
        assert store.kind == "video" and len(recs) == 12
        assert [r.frame_index for r in recs] == list(range(12))
        assert {(r.width, r.height) for r in recs} == {(96, 64)}
        assert recs[0].timestamp == 0 and recs[1].timestamp > 0
        store.set_status(recs[3].id, ImageStatus.VERIFIED)
    assert _listing(tmp_path) == before
    with open_project(video) as store:
        assert store.image(recs[3].id).status is ImageStatus.VERIFIED


def test_moved_folder_set_root(folder, tmp_path):
    with open_project(folder) as store:
        path = store.path
    moved = tmp_path / "moved"
    folder.rename(moved)
    with open_project(path) as store:  # source unreachable: opens, flags nothing
        assert not any(r.missing for r in store.images())
        store.set_root(moved)
        assert sync_folder(store).added == [] and store.absolute_path(store.images()[0]) == str(moved / "img1.png")
