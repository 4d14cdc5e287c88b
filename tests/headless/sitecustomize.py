"""Headless runs (.ci/run): make every import of Qt fail, in this interpreter and in every Python
it starts (they inherit PYTHONPATH), as in a CI job with no Qt installed (napari's headless job).

Put this folder first on PYTHONPATH; ``tests/headless/headless_plugin.py`` then leaves out the GUI
tests. Anything outside ``rnxstudio.ui`` that reaches for Qt fails loudly here.
"""

from __future__ import annotations

import importlib.abc
import sys

BLOCKED = ("PySide6", "shiboken6", "qtawesome", "pyqtgraph", "pytestqt")


class QtBlocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] in BLOCKED:
            raise ImportError(f"{name} is not available in this headless run (tests/headless/sitecustomize.py)",
                              name=name)
        return None


if not any(isinstance(f, QtBlocker) for f in sys.meta_path):
    sys.meta_path.insert(0, QtBlocker())
