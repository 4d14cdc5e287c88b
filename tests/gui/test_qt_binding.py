"""The Qt binding itself must not corrupt the interpreter.

PySide6 6.12.0 on Python 3.11 returns ``None`` from void methods without a new reference, so
every call like ``QColor.setAlpha`` or ``QGraphicsItem.setPos`` drops one reference to None.
None starts with ~10k references: one 100-step box drag on the canvas costs ~1,100, and the
process aborts with "Fatal Python error: none_dealloc" after a few minutes of use (or mid-way
through a long GUI test session). PySide6 6.11.3 is correct. From Python 3.12 None is immortal
(PEP 683) and the bug is harmless.
"""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.gui


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12 (PEP 683)")
def test_void_qt_calls_do_not_drop_references_to_none():
    import PySide6
    from PySide6.QtGui import QColor

    color = QColor("red")
    before = sys.getrefcount(None)
    for _ in range(1000):
        color.setAlpha(10)
    lost = before - sys.getrefcount(None)
    assert lost < 100, (
        f"PySide6 {PySide6.__version__} drops a reference to None on every void call ({lost} per "
        "1000 calls): the GUI will abort with 'deallocating None'. Install a PySide6 without the "
        "bug (e.g. PySide6-Essentials==6.11.3) and exclude this version in pyproject.toml."
    )
