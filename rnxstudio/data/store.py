"""The project store: one SQLite file per project, every edit committed when made.

Durability (see docs/adr/0002-project-store-sqlite.md): WAL journal with ``synchronous=FULL`` by
default, so a commit that returned survives a process kill *and* a power cut; ``durability=
"normal"`` trades the power-cut guarantee for speed (still safe against a process kill).

Boxes live in one table whose ``source`` column keeps a person's work (manual, accepted) apart
from a model's (predicted): :meth:`ProjectStore.set_predictions` only ever deletes predicted rows.

Connections are single-thread (sqlite3's default check): use a store from the thread that opened it.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnxstudio.core.model import Box, BoxSource, Category, ImageRecord, ImageStatus, default_color
from rnxstudio.data import schema
from rnxstudio.data.store_rows import (
    BOX_COLS,
    BOX_WRITE_COLS,
    CATEGORY_COLS,
    IMAGE_COLS,
    box_from_row,
    box_values,
    category_from_row,
    dump_extra,
    image_from_row,
)
from rnxstudio.data.store_categories import CategoryEditsMixin
from rnxstudio.data.store_review import ReviewMemoryMixin
from rnxstudio.data.store_models import ModelRecord, ModelsMixin, TrainingRun, _now  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from rnxstudio.core.model import LabelSet
    from rnxstudio.data.store_labels import ImportReport

PROJECT_SUFFIX = ".rnxproj"
KINDS = ("folder", "video", "mixed")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_DIGITS = re.compile(r"(\d+)")


class StoreError(RuntimeError):
    """A project file that cannot be opened, or an edit the store refuses (message names why)."""


def natural_sort_key(path: str) -> str:
    """A string whose plain (binary) order is natural order: ``img2`` < ``img10``, case-insensitive."""
    parts = []
    for k, part in enumerate(_DIGITS.split(path.lower())):
        if k % 2:
            digits = part.lstrip("0") or "0"
            parts.append(f"\x00{len(digits):04d}{digits}")  # \x00 sorts a number before any text
        else:
            parts.append(part)
    return "".join(parts)


class ProjectStore(ModelsMixin, CategoryEditsMixin, ReviewMemoryMixin):
    """An open project file. Create with :meth:`create`, open with :meth:`open`; use as a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._depth = 0

    # ------------------------------------------------------------------ lifecycle
    @staticmethod
    def _connect(path: Path, durability: str) -> sqlite3.Connection:
        if durability not in ("full", "normal"):
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: cannot use WAL journaling here (got {mode!r})")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA synchronous={durability.upper()}")
        except BaseException:
            conn.close()
            raise
        return conn

    @classmethod
    def create(cls, path: str | Path, *, root: str | Path, kind: str = "folder", source: str | Path | None = None,
               durability: str = "full") -> ProjectStore:
        """Create a new, empty project file at ``path`` for images under ``root``."""
        path = Path(path)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if path.exists():
            raise StoreError(f"{path}: a file already exists there")
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = cls._connect(path, durability)
        store = cls(conn, path)
        try:
            with store.transaction():
                schema.create_schema(conn)
                meta = {"root": str(Path(root).absolute()), "kind": kind, "created": _now(),
                        "source": str(Path(source).absolute()) if source is not None else str(Path(root).absolute())}
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
        except BaseException:
            conn.close()
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            raise
        return store

    @classmethod
    def open(cls, path: str | Path, *, durability: str = "full") -> ProjectStore:
        """Open an existing project file (migrating an older schema in place)."""
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path}: no such project file")
        with open(path, "rb") as fh:
            if fh.read(16) != _SQLITE_MAGIC:
                raise StoreError(f"{path}: not an rnxstudio project (not an SQLite database)")
        conn = cls._connect(path, durability)
        store = cls(conn, path)
        try:
            with store.transaction():
                schema.migrate(conn)
        except schema.SchemaError as exc:
            conn.close()
            raise StoreError(f"{path}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit; nests (only the outermost level commits or rolls back)."""
        if self._conn is None:
            raise StoreError(f"{self.path}: the project is closed")
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self._conn.execute("COMMIT")

    def _q(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        if self._conn is None:
            raise StoreError(f"{self.path}: the project is closed")
        return self._conn.execute(sql, params)

    # ------------------------------------------------------------------ meta
    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self._q("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._q("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, str(value)))

    def meta_json(self, key: str, default=None):
        """A meta value stored as JSON (e.g. "coco.info"); ``default`` when absent or unreadable."""
        import json

        text = self.meta(key)
        if text is None:
            return default
        try:
            return json.loads(text)
        except ValueError:
            return default

    def set_meta_json(self, key: str, value) -> None:
        import json

        self.set_meta(key, json.dumps(value, ensure_ascii=False, allow_nan=False))

    @property
    def root(self) -> Path:
        """The folder image paths are relative to."""
        return Path(self.meta("root") or ".")

    def set_root(self, root: str | Path) -> None:
        """Point the project at its images' new location (the folder was moved)."""
        root = Path(root).absolute()
        with self.transaction():
            if self.kind == "video":
                self.set_meta("source", str(root / self.source.name))
            else:
                self.set_meta("source", str(root))
            self.set_meta("root", str(root))

    @property
    def kind(self) -> str:
        return self.meta("kind") or "folder"

    @property
    def source(self) -> Path:
        """The folder or video the project was opened from."""
        return Path(self.meta("source") or self.meta("root") or ".")

    # ------------------------------------------------------------------ categories
    def categories(self) -> list[Category]:
        rows = self._q(f"SELECT {CATEGORY_COLS} FROM categories ORDER BY position, id")
        return [category_from_row(r) for r in rows]

    def category_by_name(self, name: str) -> Category | None:
        r = self._q(f"SELECT {CATEGORY_COLS} FROM categories WHERE name = ?", (name,)).fetchone()
        return category_from_row(r) if r else None

    def add_category(self, name: str, color: str | None = None, hotkey: str | None = None, id: int | None = None,
                     supercategory: str = "", extra: dict | None = None) -> Category:
        """Add a category; ``id`` is kept when given and free, else the next free id is used."""
        name = name.strip()
        if not name:
            raise StoreError("a category needs a non-empty name")
        with self.transaction():
            if self.category_by_name(name) is not None:
                raise StoreError(f"category {name!r} already exists")
            n, max_id, max_pos = self._q("SELECT COUNT(*), IFNULL(MAX(id), 0), IFNULL(MAX(position), -1) FROM categories").fetchone()
            if id is None or self._q("SELECT 1 FROM categories WHERE id = ?", (id,)).fetchone():
                id = max_id + 1
            cat = Category(id=int(id), name=name, color=color or default_color(n), hotkey=hotkey,
                           supercategory=supercategory, extra=dict(extra or {}))
            self._q("INSERT INTO categories (id, name, color, hotkey, supercategory, position, extra) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (cat.id, cat.name, cat.color, cat.hotkey, cat.supercategory, max_pos + 1, dump_extra(cat.extra)))
        return cat

    def update_category(self, cat: Category) -> Category:
        """Rename / recolour / re-key a category (by id)."""
        with self.transaction():
            other = self.category_by_name(cat.name)
            if other is not None and other.id != cat.id:
                raise StoreError(f"category {cat.name!r} already exists")
            cur = self._q("UPDATE categories SET name = ?, color = ?, hotkey = ?, supercategory = ?, extra = ? "
                          "WHERE id = ?",
                          (cat.name, cat.color, cat.hotkey, cat.supercategory, dump_extra(cat.extra), cat.id))
            if cur.rowcount == 0:
                raise StoreError(f"no category with id {cat.id}")
        return cat

    def boxes_of_category(self, category_id: int) -> list[Box]:
        return [box_from_row(r) for r in self._q(f"SELECT {BOX_COLS} FROM boxes WHERE category_id = ? ORDER BY id",
                                                 (category_id,))]

    # ------------------------------------------------------------------ images
    def add_images(self, records: Iterable[ImageRecord]) -> list[int]:
        """Insert images (path relative to the root) in one transaction; returns their new ids."""
        with self.transaction():
            next_id = self._q("SELECT IFNULL(MAX(id), 0) + 1 FROM images").fetchone()[0]
            rows = []
            for k, r in enumerate(records):
                path = r.path.replace("\\", "/")
                rows.append((next_id + k, path, -1 if r.frame_index is None else int(r.frame_index), r.timestamp,
                             int(r.width), int(r.height), ImageStatus(r.status).value, r.error, int(r.missing),
                             natural_sort_key(path), r.split, dump_extra(r.extra)))
            try:
                self._conn.executemany(
                    "INSERT INTO images (id, path, frame_index, timestamp, width, height, status, error, missing, "
                    "sort_key, split, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"cannot add images: {exc} (an image with the same path/frame already exists?)") from exc
        return [r[0] for r in rows]

    def image(self, image_id: int) -> ImageRecord:
        r = self._q(f"SELECT {IMAGE_COLS} FROM images WHERE id = ?", (image_id,)).fetchone()
        if r is None:
            raise KeyError(f"no image with id {image_id}")
        return image_from_row(r)

    def images(self, ids: Sequence[int] | None = None) -> list[ImageRecord]:
        """Records for ``ids`` in that order (all images in display order when None)."""
        if ids is None:
            rows = self._q(f"SELECT {IMAGE_COLS} FROM images ORDER BY +sort_key, +frame_index, id")
            return [image_from_row(r) for r in rows]
        found: dict[int, ImageRecord] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._q(f"SELECT {IMAGE_COLS} FROM images WHERE id IN ({marks})", chunk):
                found[r[0]] = image_from_row(r)
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"no images with ids {missing[:10]}")
        return [found[i] for i in ids]

    def image_ids(self, status: ImageStatus | Iterable[ImageStatus] | None = None, category_id: int | None = None,
                  search: str | None = None) -> list[int]:
        """Image ids in display (natural) order, filtered by status(es), a category present, a name substring."""
        where, params = [], []
        if status is not None:
            statuses = [status] if isinstance(status, (str, ImageStatus)) else list(status)
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params += [ImageStatus(s).value for s in statuses]
        if category_id is not None:
            where.append("id IN (SELECT image_id FROM boxes WHERE category_id = ?)")
            params.append(category_id)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("path LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        sql = "SELECT id FROM images"
        if where:
            sql += " WHERE " + " AND ".join(where)
        # A name search must test every row: scanning the table and sorting the few hits is far
        # faster than walking the order index with a table lookup per row ("+" stops that plan).
        order = " ORDER BY +sort_key, +frame_index, id" if search else " ORDER BY sort_key, frame_index, id"
        return [r[0] for r in self._q(sql + order, params)]

    def count_images(self, status: ImageStatus | None = None) -> int:
        if status is None:
            return self._q("SELECT COUNT(*) FROM images").fetchone()[0]
        return self._q("SELECT COUNT(*) FROM images WHERE status = ?", (ImageStatus(status).value,)).fetchone()[0]

    def status_counts(self) -> dict[ImageStatus, int]:
        counts = {s: 0 for s in ImageStatus}
        for status, n in self._q("SELECT status, COUNT(*) FROM images GROUP BY status"):
            counts[ImageStatus(status)] = n
        return counts

    def _update_image(self, image_id: int, sql: str, params: tuple) -> None:
        with self.transaction():
            if self._q(f"UPDATE images SET {sql} WHERE id = ?", (*params, image_id)).rowcount == 0:
                raise KeyError(f"no image with id {image_id}")

    def set_image_size(self, image_id: int, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        self._update_image(image_id, "width = ?, height = ?", (int(width), int(height)))

    def set_image_error(self, image_id: int, text: str | None) -> None:
        self._update_image(image_id, "error = ?", (text,))

    def set_missing(self, image_ids: Iterable[int], missing: bool) -> None:
        with self.transaction():
            self._conn.executemany("UPDATE images SET missing = ? WHERE id = ?", [(int(missing), i) for i in image_ids])

    def set_status(self, image_id: int, status: ImageStatus) -> None:
        self._update_image(image_id, "status = ?", (ImageStatus(status).value,))

    def set_image_split(self, image_id: int, split: str | None) -> None:
        self._update_image(image_id, "split = ?", (split,))

    def set_image_extra(self, image_id: int, extra: dict | None) -> None:
        """Replace what is kept of a label file's per-image fields (see ImageRecord.extra)."""
        self._update_image(image_id, "extra = ?", (dump_extra(extra),))

    def absolute_path(self, record: ImageRecord) -> str:
        """The file on disk for ``record`` (the video file for a frame)."""
        p = Path(record.path)
        return str(p if p.is_absolute() else self.root / p)

    # ------------------------------------------------------------------ boxes
    def boxes(self, image_id: int, *, include_predictions: bool = True) -> list[Box]:
        sql = f"SELECT {BOX_COLS} FROM boxes WHERE image_id = ?"
        if not include_predictions:
            sql += " AND source != 'predicted'"
        return [box_from_row(r) for r in self._q(sql + " ORDER BY id", (image_id,))]

    def get_box(self, box_id: int) -> Box:
        r = self._q(f"SELECT {BOX_COLS} FROM boxes WHERE id = ?", (box_id,)).fetchone()
        if r is None:
            raise KeyError(f"no box with id {box_id}")
        return box_from_row(r)

    def person_boxes(self, image_ids: Iterable[int] | None = None) -> dict[int, list[Box]]:
        """Manual + accepted boxes per image (all images, or those of ``image_ids``), in id order."""
        wanted = None if image_ids is None else set(image_ids)
        out: dict[int, list[Box]] = {}
        for r in self._q(f"SELECT {BOX_COLS} FROM boxes WHERE source != 'predicted' ORDER BY image_id, id"):
            if wanted is None or r[1] in wanted:
                out.setdefault(r[1], []).append(box_from_row(r))
        return out

    def count_boxes(self, *, include_predictions: bool = True) -> int:
        sql = "SELECT COUNT(*) FROM boxes" + ("" if include_predictions else " WHERE source != 'predicted'")
        return self._q(sql).fetchone()[0]

    def _mark_in_progress(self, image_id: int) -> None:
        self._q("UPDATE images SET status = 'in_progress' WHERE id = ? AND status IN ('unlabeled', 'predicted')",
                (image_id,))

    def _insert_box(self, box: Box, keep_id: bool, model_name: str | None = None) -> Box:
        values = box_values(box, model_name)
        marks = ", ".join("?" * len(values))
        try:
            if keep_id:
                if box.id <= 0:
                    raise StoreError("keep_id needs a box with an id")
                self._q(f"INSERT INTO boxes (id, {BOX_WRITE_COLS}) VALUES (?, {marks})", (box.id, *values))
                new_id = box.id
            else:
                cur = self._q(f"INSERT INTO boxes ({BOX_WRITE_COLS}) VALUES ({marks})", values)
                new_id = cur.lastrowid
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"cannot add box {box.xyxy} to image {box.image_id} "
                             f"(category {box.category_id}, id {box.id if keep_id else 'new'}): {exc}") from exc
        return replace(box, id=new_id, x1=float(box.x1), y1=float(box.y1), x2=float(box.x2), y2=float(box.y2),
                       source=BoxSource(box.source), model_name=values[10])

    def add_box(self, box: Box, keep_id: bool = False) -> Box:
        """Insert one box; ``keep_id=True`` re-inserts it under ``box.id`` (undo of a delete).

        A person's box (manual/accepted) moves an unlabeled or predicted image to in progress.
        """
        with self.transaction():
            stored = self._insert_box(box, keep_id)
            if stored.source is not BoxSource.PREDICTED:
                self._mark_in_progress(stored.image_id)
        return stored

    def add_boxes(self, boxes: Iterable[Box]) -> int:
        """Bulk insert (imports, benchmarks) in one transaction; no status updates; returns the count."""
        marks = ", ".join("?" * (BOX_WRITE_COLS.count(",") + 1))
        with self.transaction():
            cur = self._conn.executemany(f"INSERT INTO boxes ({BOX_WRITE_COLS}) VALUES ({marks})",
                                         (box_values(b) for b in boxes))
            return cur.rowcount

    def update_box(self, box: Box) -> Box:
        """Overwrite a stored box (by id) with ``box``'s fields."""
        values = box_values(box)
        assignments = ", ".join(f"{c.strip()} = ?" for c in BOX_WRITE_COLS.split(","))
        with self.transaction():
            try:
                cur = self._q(f"UPDATE boxes SET {assignments} WHERE id = ?", (*values, box.id))
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"cannot update box {box.id}: {exc}") from exc
            if cur.rowcount == 0:
                raise KeyError(f"no box with id {box.id}")
            if box.source is not BoxSource.PREDICTED:
                self._mark_in_progress(box.image_id)
        return box

    def delete_box(self, box_id: int) -> Box:
        """Delete one box and return what it was."""
        with self.transaction():
            box = self.get_box(box_id)
            self._q("DELETE FROM boxes WHERE id = ?", (box_id,))
        return box

    def set_predictions(self, image_id: int, boxes: Iterable[Box], *, model_name: str,
                        model_version: str | None = None) -> list[Box]:
        """Replace ``image_id``'s predictions with ``boxes`` (stored as predicted). A person's boxes
        are never touched. An unlabeled image becomes predicted."""
        with self.transaction():
            self.image(image_id)
            self._q("DELETE FROM boxes WHERE image_id = ? AND source = 'predicted'", (image_id,))
            stored = [self._insert_box(replace(b, id=0, image_id=image_id, source=BoxSource.PREDICTED, edited=False,
                                               model_version=model_version), False, model_name)
                      for b in boxes]
            self._q("UPDATE images SET status = 'predicted' WHERE id = ? AND status = 'unlabeled'", (image_id,))
        return stored

    # ------------------------------------------------------------------ labels in / out
    def to_labelset(self, *, verified_only: bool = False, image_ids: Sequence[int] | None = None) -> LabelSet:
        """The person's labels (manual + accepted boxes) as a LabelSet; paths relative to ``root``."""
        from rnxstudio.data.store_labels import to_labelset

        return to_labelset(self, verified_only=verified_only, image_ids=image_ids)

    def import_labelset(self, ls: LabelSet, *, match: str = "relpath-then-basename") -> ImportReport:
        """Merge ``ls`` into the project in one transaction (all or nothing); see store_labels."""
        from rnxstudio.data.store_labels import import_labelset

        return import_labelset(self, ls, match=match)
