"""The project database's schema (DDL) and its migrations.

``SCHEMA_VERSION`` is the version this code writes. A new project gets the full current DDL; an
older project file is brought forward by running ``MIGRATIONS[v]`` for every ``v`` from its
version up, each inside the opening transaction. A file written by a *newer* rnxstudio is refused
rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 3

# SQLite's INTEGER range: label readers refuse ids, sizes and frame numbers outside it, which
# would otherwise fail only when stored, as an OverflowError
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

# Statuses and sources are checked by the database too, so a bug cannot store a bad value.
DDL_V1 = """
CREATE TABLE schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE images (
    id          INTEGER PRIMARY KEY,
    path        TEXT NOT NULL,                 -- POSIX path relative to the image root
    frame_index INTEGER NOT NULL DEFAULT -1,   -- -1 for a still image
    timestamp   REAL,
    width       INTEGER NOT NULL DEFAULT 0,
    height      INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL DEFAULT 'unlabeled'
                CHECK (status IN ('unlabeled', 'predicted', 'in_progress', 'verified')),
    error       TEXT,
    missing     INTEGER NOT NULL DEFAULT 0,
    sort_key    TEXT NOT NULL,                 -- natural-order key of path
    UNIQUE (path, frame_index)
);
CREATE INDEX images_order ON images (sort_key, frame_index);
CREATE INDEX images_status ON images (status, sort_key, frame_index);
-- name search is a substring match: a table scan (~60 ms at 100k rows), no index helps
CREATE TABLE categories (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    color         TEXT NOT NULL,
    hotkey        TEXT,
    supercategory TEXT NOT NULL DEFAULT '',
    position      INTEGER NOT NULL
);
-- One table for every box: `source` tells a person's boxes (manual, accepted) from a model's
-- (predicted). Store.set_predictions deletes only rows with source = 'predicted'.
CREATE TABLE boxes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: undo can restore an id
    image_id    INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    category_id INTEGER NOT NULL REFERENCES categories (id),
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    source      TEXT NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'predicted', 'accepted')),
    score       REAL,
    verified    INTEGER NOT NULL DEFAULT 0,
    track_id    INTEGER,
    model_name  TEXT,
    CHECK (x2 > x1 AND y2 > y1)
);
CREATE INDEX boxes_image ON boxes (image_id, source);
CREATE INDEX boxes_category ON boxes (category_id, image_id);
CREATE TABLE models (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    classes    TEXT NOT NULL,      -- JSON list of class names, in the model's order
    metrics    TEXT NOT NULL DEFAULT '{}',
    recipe     TEXT NOT NULL DEFAULT '{}',
    parent_id  INTEGER REFERENCES models (id) ON DELETE SET NULL,
    created    TEXT NOT NULL
);
CREATE TABLE training_runs (
    id            INTEGER PRIMARY KEY,
    model_id      INTEGER REFERENCES models (id) ON DELETE SET NULL,
    snapshot_path TEXT,
    config        TEXT NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL DEFAULT 'running',
    started       TEXT NOT NULL,
    ended         TEXT,
    metrics       TEXT NOT NULL DEFAULT '{}'
);
"""

# Version 2: what label files say beyond boxes (docs/adr/0009-preserved-label-fields.md). Each
# ``extra`` is a JSON object keyed by format ({"coco": {...}, "voc": {...}}), NULL when empty;
# a project's COCO info / licenses / unknown top-level keys live in meta ("coco.info", ...).
DDL_V2 = """
ALTER TABLE images ADD COLUMN split TEXT;          -- train / val / test / ..., NULL when unknown
ALTER TABLE images ADD COLUMN extra TEXT;
ALTER TABLE boxes ADD COLUMN crowd INTEGER NOT NULL DEFAULT 0;       -- COCO iscrowd=1 region
ALTER TABLE boxes ADD COLUMN difficult INTEGER NOT NULL DEFAULT 0;   -- PASCAL VOC difficult
ALTER TABLE boxes ADD COLUMN extra TEXT;
ALTER TABLE categories ADD COLUMN extra TEXT;
"""


# Version 3 (issue 15): where each box came from and what the person told the model.
# ``edited``: a model's box a person then moved, resized or relabelled (provenance "edited";
# a manual box is "drawn", an accepted one untouched "accepted"). ``model_version`` names the exact
# weights a prediction came from (model_name is the title shown). ``rejections`` remembers the
# predictions a person rejected, per image and model version, so a re-run does not bring them
# back; ``class_maps`` remembers how a model's classes map onto the project's
# (docs/adr/0020-predictions-meet-a-persons-labels.md).
DDL_V3 = """
ALTER TABLE boxes ADD COLUMN edited INTEGER NOT NULL DEFAULT 0;
ALTER TABLE boxes ADD COLUMN model_version TEXT;
CREATE TABLE rejections (
    id          INTEGER PRIMARY KEY,
    image_id    INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    model       TEXT NOT NULL,                 -- model_version, else model_name, of the prediction
    category_id INTEGER NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    box_id      INTEGER                        -- the rejected prediction's id (undo forgets by it)
);
CREATE INDEX rejections_image ON rejections (image_id, model);
CREATE TABLE class_maps (
    key        TEXT PRIMARY KEY,               -- the model's class names, JSON (one map per class list)
    model_name TEXT NOT NULL,                  -- the model it was made for (shown, not matched)
    mapping    TEXT NOT NULL,                  -- JSON {model class: project category id or null}
    updated    TEXT NOT NULL
);
"""


def _run(conn: sqlite3.Connection, ddl: str) -> None:
    for statement in ddl.split(";"):
        if statement.strip():
            conn.execute(statement)


# MIGRATIONS[v] upgrades a database at version v to v + 1.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: lambda conn: _run(conn, DDL_V2),
    2: lambda conn: _run(conn, DDL_V3),
}


class SchemaError(RuntimeError):
    """The file is not an rnxstudio project, or one from a newer version."""


def create_schema(conn: sqlite3.Connection) -> None:
    """Create every table of the current version in an empty database (caller's transaction):
    version 1's tables, then every migration, so a new project and an upgraded one are alike."""
    _run(conn, DDL_V1)
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (1,))
    migrate(conn)


def schema_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT version FROM schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise SchemaError(f"not an rnxstudio project ({exc})") from exc
    if row is None:
        raise SchemaError("not an rnxstudio project (empty schema_version table)")
    return int(row[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to ``SCHEMA_VERSION`` (caller's transaction); return the old version."""
    old = version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"project schema version {version} is newer than this rnxstudio supports ({SCHEMA_VERSION}); "
            "update rnxstudio to open it"
        )
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise SchemaError(f"no migration from schema version {version}")
        step(conn)
        version += 1
        conn.execute("UPDATE schema_version SET version = ?", (version,))
    return old
