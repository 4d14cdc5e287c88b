"""SessionQt: the open project's session as Qt signals — every change is announced on the GUI
thread (also one made on another thread), refused edits say why, undo/redo texts follow the one
history. (The history's own exactness is tested Qt-free in tests/unit/test_session.py.)"""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThread

from waits import EVENT_MS
from rnxstudio.core import commands as cmd
from rnxstudio.core.model import Box, ImageRecord

pytestmark = pytest.mark.gui


@pytest.fixture
def relay(tmp_path, qtbot):
    from rnxstudio.data.store import ProjectStore
    from rnxstudio.ui.session_qt import SessionQt

    s = ProjectStore.create(tmp_path / "p.rnxproj", root=tmp_path)
    s.add_category("circle")
    s.add_category("square")
    s.add_images([ImageRecord("a.png", width=100, height=80), ImageRecord("b.png", width=50, height=50)])
    s.close()
    r = SessionQt()
    r.open(tmp_path / "p.rnxproj")
    yield r
    r.close()


def test_edits_undo_and_redo_are_announced(relay, qtbot):
    session = relay.session
    a, b = session.store.image_ids()
    boxes, images, history = [], [], []
    relay.boxes_changed.connect(lambda ids, image_ids, cause: boxes.append((tuple(image_ids), cause)))
    relay.images_changed.connect(images.append)
    relay.history_changed.connect(lambda u, r: history.append((u, r)))
    add = cmd.AddBox(Box(10, 10, 40, 30, 1, image_id=b))
    assert session.push(add)
    assert boxes[-1] == ((b,), "edit") and images[-1] == (b,) and history[-1] == ("Add box", None)
    session.undo()
    assert boxes[-1] == ((b,), "undo") and history[-1] == (None, "Add box")
    session.redo()
    assert boxes[-1] == ((b,), "redo")


def test_refused_edits_say_why(relay):
    refused = []
    relay.refused.connect(refused.append)
    a = relay.session.store.image_ids()[0]
    assert not relay.session.push(cmd.AddBox(Box(10, 10, 10.5, 30, 1, image_id=a)))  # under 1 px wide
    assert not relay.session.push(cmd.DeleteBoxes([12345]))  # no such box
    assert len(refused) == 2 and "Add box" in refused[0] and "minimum" in refused[0]
    assert not relay.session.can_undo


def test_events_from_another_thread_arrive_on_the_gui_thread(relay, qtbot):
    from rnxstudio.data import events as ev

    seen = []
    relay.categories_changed.connect(lambda: seen.append(QThread.currentThread()))
    t = threading.Thread(target=lambda: relay._on_event(ev.CategoriesChanged()))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: bool(seen), timeout=EVENT_MS)
    assert seen == [QThread.currentThread()]


def test_class_edits_are_announced_and_closing_says_so(relay, qtbot):
    changed, closed = [], []
    relay.categories_changed.connect(lambda: changed.append(1))
    relay.closed.connect(lambda: closed.append(1))
    cat = relay.session.add_category("triangle")
    assert cat is not None and changed
    relay.session.undo()
    assert len(changed) == 2 and relay.session.store.category_by_name("triangle") is None
    relay.close()
    assert closed and relay.session is None
