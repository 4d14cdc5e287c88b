"""A project written by schema version 1 (before preserved label fields) opens, is upgraded in
place to version 2, and keeps every row; version 2 stores the new fields."""

from __future__ import annotations

import sqlite3

from rnxstudio.core.model import Box, Category, ImageRecord
from rnxstudio.data import schema
from rnxstudio.data.store import ProjectStore


def _v1_project(path, root) -> None:
    """A project file exactly as rnxstudio wrote it at schema version 1."""
    conn = sqlite3.connect(path)
    conn.executescript(schema.DDL_V1)
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                     [("root", str(root)), ("kind", "folder"), ("created", "2024-01-01T00:00:00"),
                      ("source", str(root))])
    conn.execute("INSERT INTO categories (id, name, color, hotkey, supercategory, position) "
                 "VALUES (5, 'cat', '#123456', '1', 'animal', 0)")
    conn.execute("INSERT INTO images (id, path, width, height, status, sort_key) "
                 "VALUES (1, 'a.png', 64, 48, 'in_progress', 'a.png')")
    conn.execute("INSERT INTO boxes (image_id, category_id, x1, y1, x2, y2, source, verified, track_id) "
                 "VALUES (1, 5, 1.5, 2.5, 30.25, 40.125, 'manual', 1, 7)")
    conn.commit()
    conn.close()


def test_v1_project_opens_and_upgrades_in_place(tmp_path):
    path = tmp_path / "old.rnxproj"
    _v1_project(path, tmp_path)
    with ProjectStore.open(path) as store:
        assert schema.schema_version(store._conn) == schema.SCHEMA_VERSION == 3
        (cat,) = store.categories()
        assert (cat.id, cat.name, cat.color, cat.hotkey, cat.supercategory, cat.extra) == (
            5, "cat", "#123456", "1", "animal", {})
        (im,) = store.images()
        assert (im.path, im.width, im.height, im.split, im.extra) == ("a.png", 64, 48, None, {})
        (box,) = store.boxes(1)
        assert box.xyxy == (1.5, 2.5, 30.25, 40.125) and box.verified and box.track_id == 7
        assert (box.crowd, box.difficult, box.extra) == (False, False, {})
        # version 3: an old box is a person's drawn box; nothing rejected, no class maps yet
        assert (box.provenance, box.edited, box.model_version) == ("drawn", False, None)
        assert store.count_rejections() == 0 and store.class_map_keys() == []
        # the upgraded file takes the new fields
        store.add_box(Box(2, 2, 9, 9, 5, image_id=1, crowd=True, extra={"coco": {"id": 42}}))
        store.set_image_split(1, "train")
    with ProjectStore.open(path) as store:  # and keeps them; no second migration
        assert schema.schema_version(store._conn) == 3
        crowd = [b for b in store.boxes(1) if b.crowd]
        assert len(crowd) == 1 and crowd[0].extra == {"coco": {"id": 42}}
        assert store.image(1).split == "train"


def test_new_projects_and_upgraded_ones_have_the_same_tables(tmp_path):
    old = tmp_path / "old.rnxproj"
    _v1_project(old, tmp_path)
    ProjectStore.open(old).close()
    new = tmp_path / "new.rnxproj"
    ProjectStore.create(new, root=tmp_path).close()

    def columns(path):
        conn = sqlite3.connect(path)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {t: [c[1:4] for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
        finally:
            conn.close()

    assert columns(old) == columns(new)


def test_extra_fields_round_trip_through_the_store(tmp_path):
    with ProjectStore.create(tmp_path / "p.rnxproj", root=tmp_path) as store:
        cat = store.add_category("person", extra={"coco": {"keypoints": ["nose"], "skeleton": [[1, 1]]}})
        (iid,) = store.add_images([ImageRecord("a.png", width=10, height=10, split="val",
                                               extra={"coco": {"id": 0, "coco_url": "http://x"}})])
        box = store.add_box(Box(1, 1, 5, 5, cat.id, image_id=iid, difficult=True,
                                extra={"voc": {"pose": "Left", "xml": ["<part/>"]}}))
        assert store.categories() == [cat] and store.get_box(box.id) == box
        assert store.image(iid).extra == {"coco": {"id": 0, "coco_url": "http://x"}}
        store.update_category(Category(cat.id, "person", cat.color, extra={}))
        assert store.categories()[0].extra == {}
