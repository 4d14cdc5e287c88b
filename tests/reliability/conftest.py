"""Fixtures for the reliability suite: a small labelled project on disk, a main window, a Qt
warning collector, and a child-process runner for kill/limit tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

GUI_TESTS = Path(__file__).resolve().parents[1] / "gui"
if str(GUI_TESTS) not in sys.path:  # canvas_helpers / window_helpers live with the GUI tests
    sys.path.insert(0, str(GUI_TESTS))


def store_dump(path: str | os.PathLike) -> str:
    """Every row of every table of a project file, as text (for byte-compare before/after)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def make_labelled_folder(root: Path, n: int = 4, size=(96, 80), seed: int = 7) -> Path:
    """A folder of ``n`` shape images; returns the folder. Its COCO truth is moved next to it."""
    from rnxstudio.data.demo import make_shapes_dataset

    folder = root / "imgs"
    make_shapes_dataset(n, size, seed=seed, out_dir=folder)
    (folder / "annotations.json").rename(root / "truth.json")
    return folder


@pytest.fixture
def labelled_project(tmp_path):
    """(store, folder): an opened project with the generated ground truth imported."""
    from rnxstudio.data.coco import read_coco
    from rnxstudio.data.project import open_project

    folder = make_labelled_folder(tmp_path)
    store = open_project(folder)
    store.import_labelset(read_coco(tmp_path / "truth.json", image_root=folder))
    yield store, folder
    store.close()


@pytest.fixture
def qt_warnings(qt_messages):
    """Qt warnings/criticals emitted during a test (the suite-wide ``qt_messages``)."""
    return qt_messages


def run_child(code: str, *args: str, timeout: float = 120, env: dict | None = None,
              preexec_fn=None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python (offscreen Qt, same RNXSTUDIO_HOME); returns the result."""
    full_env = dict(os.environ)
    full_env.setdefault("QT_QPA_PLATFORM", "offscreen")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, preexec_fn=preexec_fn)
