"""pytest plugin for the headless run: refuses to start unless Qt is really blocked, and leaves
out every module whose tests are all GUI tests (``pytestmark = ... gui``) and the tests/gui
folder, which import Qt when collected. Mixed modules stay; ``-m "not gui"`` deselects their GUI
tests. Use: ``PYTHONPATH=tests/headless python -m pytest -p no:pytest-qt -p headless_plugin -m "not gui"``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

_ALL_GUI = re.compile(r"^pytestmark\s*=.*\bmark\.gui\b", re.MULTILINE)


def pytest_configure(config):
    try:
        import PySide6  # noqa: F401
    except ImportError:
        return
    raise pytest.UsageError("headless run: PySide6 imports; put tests/headless first on PYTHONPATH")


def pytest_ignore_collect(collection_path: Path, config):
    if collection_path.is_dir():
        return True if collection_path.name == "gui" and collection_path.parent.name == "tests" else None
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        if _ALL_GUI.search(collection_path.read_text(encoding="utf-8")):
            return True
    return None
