"""The action table is the one source of truth: every action has an icon, a shortcut that no
other action uses, and a tooltip that shows it."""

import pytest
from PySide6.QtGui import QKeySequence

from rnxstudio.ui.actions import ACTIONS, build_actions, shortcut_rows

pytestmark = pytest.mark.gui


def test_every_action_has_unique_shortcut_and_icon(qtbot):
    import qtawesome as qta
    from PySide6.QtWidgets import QWidget

    seen = {}
    for a in ACTIONS:
        assert a.shortcuts, f"{a.id} has no shortcut"
        qta.icon(a.icon)  # raises for an unknown glyph
        for k in a.shortcuts:
            key = QKeySequence(k).toString()
            assert key not in seen, f"{k} used by {a.id} and {seen.get(key)}"
            seen[key] = a.id
    parent = QWidget()
    qtbot.addWidget(parent)
    acts = build_actions(parent)
    for a in ACTIONS:
        assert QKeySequence(a.shortcuts[0]).toString(QKeySequence.NativeText) in acts[a.id].toolTip()


def test_shortcut_rows_come_from_the_table():
    rows = shortcut_rows()
    assert len(rows) == len(ACTIONS)
    assert ("Go", "Next Image", "D") in rows


def test_theme_switch(window):
    window.actions_by_id["theme_dark"].trigger()
    assert window.settings.value("theme") == "dark"
    window.actions_by_id["theme_system"].trigger()
    assert window.settings.value("theme") == "system"
