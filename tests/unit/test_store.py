"""ProjectStore: schema, pragmas, queries, predictions kept apart, LabelSet out/in."""

from __future__ import annotations

import sqlite3

import pytest

from rnxstudio.core.model import Box, BoxSource, Category, ImageRecord, ImageStatus, LabelSet
from rnxstudio.data import schema
from rnxstudio.data.store import ProjectStore, StoreError, natural_sort_key


@pytest.fixture
def store(tmp_path):
    with ProjectStore.create(tmp_path / "p.rnxproj", root=tmp_path, kind="folder") as s:
        yield s


def test_pragmas_and_schema_version(store):
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert schema.schema_version(conn) == schema.SCHEMA_VERSION
    assert store.kind == "folder" and store.meta("created")


def test_reopen_keeps_everything(tmp_path):
    path = tmp_path / "p.rnxproj"
    with ProjectStore.create(path, root=tmp_path) as s:
        cat = s.add_category("person", hotkey="1")
        (iid,) = s.add_images([ImageRecord("a.jpg", width=10, height=10)])
        box = s.add_box(Box(1, 2, 3, 4, cat.id, image_id=iid))
    with ProjectStore.open(path) as s:
        assert s.categories() == [cat]
        assert s.boxes(iid) == [box]
        assert s.image(iid).status is ImageStatus.IN_PROGRESS
        assert s.root == tmp_path.absolute()


def test_open_rejects_bad_files(tmp_path):
    with pytest.raises(StoreError, match="no such project"):
        ProjectStore.open(tmp_path / "nope.rnxproj")
    junk = tmp_path / "junk.rnxproj"
    junk.write_text("hello")
    with pytest.raises(StoreError, match="not an rnxstudio project"):
        ProjectStore.open(junk)
    other = tmp_path / "other.rnxproj"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(StoreError, match="not an rnxstudio project"):
        ProjectStore.open(other)
    with pytest.raises(StoreError, match="already exists"):
        ProjectStore.create(junk, root=tmp_path)


def test_newer_schema_refused_and_migrations_run(tmp_path, monkeypatch):
    path = tmp_path / "p.rnxproj"
    ProjectStore.create(path, root=tmp_path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        ProjectStore.open(path)
    # a fake future migration 1 -> 2 runs exactly once on open
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 1")
    conn.commit()
    conn.close()
    ran = []
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(schema.MIGRATIONS, 1, lambda c: (ran.append(1), c.execute("ALTER TABLE images ADD COLUMN note TEXT")))
    with ProjectStore.open(path) as s:
        assert schema.schema_version(s._conn) == 2
    with ProjectStore.open(path):
        pass
    assert ran == [1]


def test_natural_order_filters_and_search(store):
    names = ["img10.png", "img2.png", "IMG1.png", "sub/img3.png", "b_50%.png"]
    ids = dict(zip(names, store.add_images([ImageRecord(n, width=50, height=50) for n in names])))
    order = [store.image(i).path for i in store.image_ids()]
    assert order == ["b_50%.png", "IMG1.png", "img2.png", "img10.png", "sub/img3.png"]
    assert natural_sort_key("a2") < natural_sort_key("a10") < natural_sort_key("ab")
    cat = store.add_category("x")
    store.add_box(Box(1, 1, 9, 9, cat.id, image_id=ids["img10.png"]))
    store.set_status(ids["img2.png"], ImageStatus.VERIFIED)
    assert store.image_ids(status=ImageStatus.VERIFIED) == [ids["img2.png"]]
    assert store.image_ids(status=ImageStatus.IN_PROGRESS) == [ids["img10.png"]]
    assert store.image_ids(status=[ImageStatus.VERIFIED, ImageStatus.IN_PROGRESS]) == [ids["img2.png"], ids["img10.png"]]
    assert store.image_ids(category_id=cat.id) == [ids["img10.png"]]
    assert store.image_ids(search="IMG") == [ids[n] for n in ("IMG1.png", "img2.png", "img10.png", "sub/img3.png")]
    assert store.image_ids(search="_50%") == [ids["b_50%.png"]]  # LIKE wildcards are literal
    assert store.image_ids(search="0%") == [ids["b_50%.png"]]
    assert store.count_images() == 5 and store.count_images(ImageStatus.UNLABELED) == 3
    assert store.status_counts()[ImageStatus.VERIFIED] == 1
    assert [r.path for r in store.images([ids["sub/img3.png"], ids["IMG1.png"]])] == ["sub/img3.png", "IMG1.png"]
    with pytest.raises(StoreError, match="same path"):
        store.add_images([ImageRecord("img2.png")])
    with pytest.raises(KeyError):
        store.image(999)


def test_predictions_never_touch_a_persons_boxes(store):
    cat = store.add_category("x")
    (iid,) = store.add_images([ImageRecord("a.png", width=100, height=100)])
    manual = store.add_box(Box(1, 1, 10, 10, cat.id, image_id=iid))
    accepted = store.add_box(Box(20, 20, 40, 40, cat.id, image_id=iid, source=BoxSource.ACCEPTED, score=0.7))
    first = store.set_predictions(iid, [Box(50, 50, 60, 60, cat.id, score=0.9)] * 3, model_name="m1")
    assert len(first) == 3 and all(b.source is BoxSource.PREDICTED for b in first)
    second = store.set_predictions(iid, [Box(5, 5, 15, 15, cat.id, score=0.5, source=BoxSource.MANUAL)], model_name="m2")
    assert second[0].source is BoxSource.PREDICTED  # whatever the caller says
    assert store.boxes(iid) == [manual, accepted, second[0]]
    assert store.boxes(iid, include_predictions=False) == [manual, accepted]
    store.set_predictions(iid, [], model_name="m3")
    assert store.boxes(iid) == [manual, accepted]
    assert store.image(iid).status is ImageStatus.IN_PROGRESS  # not downgraded to predicted


def test_status_rules(store):
    cat = store.add_category("x")
    a, b = store.add_images([ImageRecord("a.png", width=10, height=10), ImageRecord("b.png", width=10, height=10)])
    store.set_predictions(a, [Box(1, 1, 5, 5, cat.id, score=0.5)], model_name="m")
    assert store.image(a).status is ImageStatus.PREDICTED
    store.add_box(Box(1, 1, 5, 5, cat.id, image_id=a))
    assert store.image(a).status is ImageStatus.IN_PROGRESS
    store.set_status(b, ImageStatus.VERIFIED)
    store.add_box(Box(1, 1, 5, 5, cat.id, image_id=b))
    assert store.image(b).status is ImageStatus.VERIFIED  # a verified image stays verified
    store.set_predictions(b, [], model_name="m")
    assert store.image(b).status is ImageStatus.VERIFIED


def test_box_crud_keep_id_and_errors(store):
    cat = store.add_category("x")
    (iid,) = store.add_images([ImageRecord("a.png", width=100, height=100)])
    box = store.add_box(Box(1, 1, 10, 10, cat.id, image_id=iid, track_id=3))
    moved = store.update_box(box.with_coords(2, 2, 20, 20))
    assert store.get_box(box.id) == moved
    assert store.delete_box(box.id) == moved
    with pytest.raises(KeyError):
        store.get_box(box.id)
    assert store.add_box(moved, keep_id=True) == moved
    with pytest.raises(StoreError):
        store.add_box(moved, keep_id=True)  # id taken
    newer = store.add_box(Box(1, 1, 10, 10, cat.id, image_id=iid))
    assert newer.id > moved.id
    with pytest.raises(StoreError):
        store.add_box(Box(1, 1, 10, 10, 99, image_id=iid))  # unknown category
    with pytest.raises(StoreError):
        store.add_box(Box(1, 1, 10, 10, cat.id, image_id=999))  # unknown image
    with pytest.raises(ValueError):
        store.add_box(Box(5, 1, 5, 10, cat.id, image_id=iid))  # zero width
    with pytest.raises(ValueError):
        store.add_box(Box(float("nan"), 1, 5, 10, cat.id, image_id=iid))


def test_transaction_rolls_back_everything(store):
    cat = store.add_category("x")
    (iid,) = store.add_images([ImageRecord("a.png", width=100, height=100)])
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_box(Box(1, 1, 10, 10, cat.id, image_id=iid))
            store.set_status(iid, ImageStatus.VERIFIED)
            raise RuntimeError("boom")
    assert store.boxes(iid) == [] and store.image(iid).status is ImageStatus.UNLABELED


def test_categories(store):
    a = store.add_category("cat", id=5)
    b = store.add_category("dog", id=5)  # taken -> next free
    assert (a.id, b.id) == (5, 6) and a.color != b.color
    with pytest.raises(StoreError, match="already exists"):
        store.add_category("cat")
    with pytest.raises(StoreError):
        store.add_category("  ")
    store.update_category(Category(id=5, name="kitty", color="#000000", hotkey="k"))
    assert store.category_by_name("kitty").hotkey == "k" and store.category_by_name("cat") is None
    with pytest.raises(StoreError, match="already exists"):
        store.update_category(Category(id=5, name="dog"))
    assert [c.name for c in store.categories()] == ["kitty", "dog"]


def test_models_and_training_runs(store):
    m = store.add_model("/ck/a.safetensors", name="base", classes=["a", "b"], metrics={"ap": 0.3})
    child = store.add_model("/ck/b.safetensors", name="ft", classes=["a", "b"], parent_id=m.id, recipe={"lr": 0.01})
    assert store.models() == [m, child]
    run = store.add_training_run(config={"iters": 10}, model_id=m.id)
    store.update_training_run(run, status="done", metrics={"loss": 0.5}, model_id=child.id, ended=True)
    (r,) = store.training_runs()
    assert (r.status, r.metrics, r.model_id, r.config) == ("done", {"loss": 0.5}, child.id, {"iters": 10})
    assert r.ended
    with pytest.raises(KeyError):
        store.update_training_run(999, status="x")


def test_to_labelset_only_persons_boxes(store):
    cat = store.add_category("x")
    a, b, c = store.add_images([ImageRecord(f"{n}.png", width=50, height=50) for n in "abc"])
    manual = store.add_box(Box(1, 1, 10, 10, cat.id, image_id=a))
    store.set_predictions(a, [Box(2, 2, 8, 8, cat.id, score=0.9)], model_name="m")
    store.set_status(b, ImageStatus.VERIFIED)
    store.set_missing([c], True)
    ls = store.to_labelset()
    assert [r.path for r in ls.images] == ["a.png", "b.png"]  # missing file left out
    assert ls.boxes[a] == [manual] and ls.boxes[b] == [] and ls.root == str(store.root)
    assert [r.path for r in store.to_labelset(verified_only=True).images] == ["b.png"]
    assert [r.path for r in store.to_labelset(image_ids=[a]).images] == ["a.png"]


def _labelset(paths, root=None, cats=((3, "dog"), (7, "cat"))) -> LabelSet:
    images = [ImageRecord(p, id=k + 1, width=100, height=100) for k, p in enumerate(paths)]
    boxes = {r.id: [Box(10, 10, 50, 50 + r.id, 3, image_id=r.id), Box(-5, 0, 20, 20, 7, image_id=r.id)] for r in images}
    return LabelSet(categories=[Category(i, n) for i, n in cats], images=images, boxes=boxes, root=root)


def test_import_matches_paths_and_keeps_ids(store):
    store.add_category("cat")  # id 1: the file's "cat" (id 7) maps onto it by name
    store.add_category("bird", id=3)  # id 3 is taken: the file's "dog" gets the next free id
    store.add_images([ImageRecord(p, width=100, height=100) for p in ("a.png", "sub/b.png", "c.png")])
    ls = _labelset(["images/a.png", "sub/b.png", "elsewhere/c.png", "zzz.png"])
    report = store.import_labelset(ls)
    assert report.matched_images == 3 and report.unmatched_files == ["zzz.png"]
    assert report.new_categories == ["dog"] and report.added_boxes == 6
    dog = store.category_by_name("dog")
    assert dog.id == 4
    a = store.image_ids(search="a.png")[0]
    assert [(b.category_id, b.xyxy) for b in store.boxes(a)] == [(dog.id, (10, 10, 50, 51)), (1, (0, 0, 20, 20))]
    assert store.image(a).status is ImageStatus.IN_PROGRESS
    again = store.import_labelset(ls)
    assert again.added_boxes == 0 and again.duplicate_boxes == 6


def test_import_is_all_or_nothing(store):
    store.add_images([ImageRecord("a.png", width=100, height=100), ImageRecord("b.png", width=100, height=100)])
    ls = _labelset(["a.png", "b.png"])
    ls.boxes[2].append(Box(1, 1, 5, 5, 42, image_id=2))  # undefined category, on the last image
    with pytest.raises(ValueError, match="category id 42"):
        store.import_labelset(ls)
    assert store.categories() == [] and store.count_boxes() == 0
    assert store.count_images(ImageStatus.UNLABELED) == 2


def test_import_skips_degenerate_and_fills_sizes(store):
    (iid,) = store.add_images([ImageRecord("a.png")])
    ls = _labelset(["a.png"])
    ls.images[0] = ImageRecord("a.png", id=1, width=64, height=48)
    ls.boxes[1] = [Box(10, 10, 30, 30, 3, image_id=1), Box(70, 10, 90, 30, 3, image_id=1)]
    report = store.import_labelset(ls)
    assert report.added_boxes == 1 and len(report.skipped_boxes) == 1 and "a.png" in report.skipped_boxes[0]
    assert (store.image(iid).width, store.image(iid).height) == (64, 48)


def test_import_basename_ambiguity_and_modes(store):
    store.add_images([ImageRecord(p, width=100, height=100) for p in ("x/a.png", "y/a.png", "y/b.png")])
    report = store.import_labelset(_labelset(["other/a.png", "other/b.png"]))
    assert report.unmatched_files == ["other/a.png"] and report.matched_images == 1
    report = store.import_labelset(_labelset(["/data/upload/3/8f3a2b1c-b.png"]))
    assert report.matched_images == 1 and report.duplicate_boxes == 1 and report.added_boxes == 1
    report = store.import_labelset(_labelset(["q/b.png"]), match="relpath")
    assert report.unmatched_files == ["q/b.png"]
    with pytest.raises(ValueError):
        store.import_labelset(_labelset([]), match="fuzzy")


def test_round_trip_labelset_through_store(store, tmp_path):
    store.add_images([ImageRecord(p, width=100, height=100) for p in ("a.png", "b.png")])
    ls = _labelset(["a.png", "b.png"])
    store.import_labelset(ls)
    out = store.to_labelset()
    got = {r.path: sorted((b.xyxy, store.categories()[[c.id for c in store.categories()].index(b.category_id)].name)
                          for b in out.boxes[r.id]) for r in out.images}
    names = {c.id: c.name for c in ls.categories}
    want = {r.path: sorted((b.xyxy if b.x1 >= 0 else (0.0, 0.0, 20.0, 20.0), names[b.category_id])
                           for b in ls.boxes[r.id]) for r in ls.images}
    assert got == want


# --------------------------------------------------------------------------- hypothesis
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_box = st.tuples(st.floats(0, 60, allow_nan=False), st.floats(0, 60, allow_nan=False),
                 st.floats(1.01, 40, allow_nan=False), st.floats(1.01, 40, allow_nan=False), st.integers(0, 2))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(per_image=st.lists(st.lists(_box, max_size=5), min_size=1, max_size=4),
       cat_ids=st.lists(st.integers(0, 50), min_size=3, max_size=3, unique=True))
def test_labelset_round_trips_through_a_fresh_store(tmp_path_factory, per_image, cat_ids):
    folder = tmp_path_factory.mktemp("rt")
    cats = [Category(i, f"c{i}") for i in cat_ids]
    images = [ImageRecord(f"d/im{k}.png", id=k + 1, width=100, height=100) for k in range(len(per_image))]
    boxes = {im.id: [Box(x, y, x + w, y + h, cat_ids[c], image_id=im.id) for x, y, w, h, c in bs]
             for im, bs in zip(images, per_image)}
    with ProjectStore.create(folder / "p.rnxproj", root=folder, durability="normal") as store:
        store.add_images([ImageRecord(im.path) for im in images])
        report = store.import_labelset(LabelSet(categories=cats, images=images, boxes=boxes))
        assert [c.id for c in store.categories()] == cat_ids  # free ids kept
        out = store.to_labelset()
    assert report.matched_images == len(images) and not report.unmatched_files and not report.skipped_boxes
    assert [r.path for r in out.images] == [im.path for im in images]

    def key(ls, im):
        return sorted((b.category_id, b.xyxy) for b in ls.boxes_for(im))

    for src, got in zip(images, out.images):
        assert key(LabelSet(boxes=boxes), src) == key(out, got)  # every box, twins included
