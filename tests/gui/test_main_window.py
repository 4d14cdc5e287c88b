"""The app shell: open a folder, list it, show images, navigate, survive bad input, close."""

from __future__ import annotations

import numpy as np
import pytest

from waits import EVENT_MS
from rnxstudio.data.demo import make_shapes_dataset
from window_helpers import wait_for_image

pytestmark = pytest.mark.gui


@pytest.fixture
def folder(tmp_path):
    make_shapes_dataset(5, (120, 90), seed=4, out_dir=tmp_path / "imgs")
    (tmp_path / "imgs" / "annotations.json").unlink()
    return tmp_path / "imgs"


def test_open_folder_lists_and_shows_first_image(window, qtbot, folder, qt_messages):
    assert window.open_path(folder)
    assert window.controller.files.rowCount() == 5
    wait_for_image(qtbot, window)
    assert window.canvas.error_text() is None
    assert window.canvas.image_size() == (120, 90)
    assert window.controller.current.path == "shape_00000.png"
    assert window.sb_index.text() == "1 / 5"
    assert window.sb_size.text() == "120×90"
    assert str(folder.resolve()) in window.recent_paths()
    assert not qt_messages


def test_next_and_previous(window, qtbot, folder):
    window.open_path(folder)
    wait_for_image(qtbot, window)
    window.actions_by_id["next_image"].trigger()
    window.actions_by_id["next_image"].trigger()
    assert window.controller.current.path == "shape_00002.png"
    assert window.sb_index.text() == "3 / 5"
    window.actions_by_id["prev_image"].trigger()
    assert window.controller.current.path == "shape_00001.png"
    qtbot.waitUntil(lambda: window.file_view.currentIndex().row() == 1)
    # clicking in the list moves too
    window.file_view.setCurrentIndex(window.controller.files.index(4))
    assert window.controller.current.path == "shape_00004.png"


def test_zoom_and_fit(window, qtbot, folder):
    window.open_path(folder)
    wait_for_image(qtbot, window)
    window.actions_by_id["zoom_100"].trigger()
    assert window.canvas.zoom() == pytest.approx(1.0)
    assert window.sb_zoom.text() == "100 %"
    window.actions_by_id["zoom_in"].trigger()
    assert window.canvas.zoom() > 1.0


@pytest.mark.parametrize("kind", ["missing", "empty", "not_media"])
def test_bad_paths_give_a_message_and_keep_going(window, qtbot, tmp_path, folder, kind):
    window.open_path(folder)
    target = {
        "missing": tmp_path / "does-not-exist",
        "empty": tmp_path / "empty-dir",
        "not_media": tmp_path / "notes.txt",
    }[kind]
    if kind == "empty":
        target.mkdir()
    if kind == "not_media":
        target.write_text("hello")
    assert not window.open_path(target)
    assert window.last_error is not None and str(target.name) in window.last_error[1]
    # the previous project stays open and usable
    assert window.controller.files.rowCount() == 5


def test_unreadable_image_shows_error_in_place_and_navigation_goes_on(window, qtbot, folder):
    (folder / "shape_00001.png").write_bytes(b"this is not a png")
    window.open_path(folder)
    wait_for_image(qtbot, window)
    window.controller.step(+1)
    try:
        qtbot.waitUntil(lambda: window.canvas.error_text() is not None, timeout=EVENT_MS)
    except Exception as exc:  # flaked under load until the cache fix of issue 13; if it ever recurs, keep the state
        c, cache = window.controller, window.controller.cache
        cur = c.current
        import threading

        from rnxstudio.ui.jobs import thread_stack

        stacks = "".join(f"\n--- {t.name}\n{thread_stack(t)}" for t in threading.enumerate() if t.name.startswith("rnx-"))
        raise AssertionError(
            f"no error shown for the broken image: current={cur and (cur.id, cur.path, cur.error)} "
            f"wanted={cache._wanted!r} pending={list(cache._pending)} cached={list(cache._cache)} "
            f"generation={cache._generation} canvas_size={window.canvas.image_size()}{stacks}") from exc
    assert "shape_00001.png" in window.canvas.error_text()
    window.controller.step(+1)
    qtbot.waitUntil(lambda: window.canvas.image_size() == (120, 90), timeout=EVENT_MS)
    assert window.controller.current.path == "shape_00002.png"


def test_no_dead_menu_entries(window):
    for act in window.menuBar().actions():
        menu = act.menu()
        for sub in menu.actions():
            if sub.isSeparator() or sub.menu() is not None:
                continue
            assert sub.isVisible()
            spec_id = sub.objectName()
            if spec_id:
                assert spec_id in window.handlers, f"menu entry {spec_id} has no handler"


def test_geometry_is_remembered(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from rnxstudio.ui.app import make_app
    from rnxstudio.ui.main_window import MainWindow

    make_app()
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    w.resize(700, 520)
    w.close()
    w2 = MainWindow(settings=settings)
    qtbot.addWidget(w2)
    assert (w2.width(), w2.height()) == (700, 520)
    w2.close()


def test_shortcuts_dialog_lists_visible_actions(window):
    from rnxstudio.ui.dialogs import show_shortcuts

    dlg = show_shortcuts(window)
    texts = {dlg.table.item(r, 1).text() for r in range(dlg.table.rowCount())}
    assert "Next Image" in texts and "Undo" in texts
    dlg.close()


def test_demo_opens(window, qtbot):
    assert window.open_demo()
    wait_for_image(qtbot, window, timeout=EVENT_MS)
    from rnxstudio.data.demo import DEMO_IMAGES

    assert window.controller.files.rowCount() == DEMO_IMAGES
    img = window.canvas.image_size()
    assert img == (320, 320)
    assert isinstance(window.canvas.boxes(), list) and window.canvas.boxes()
    assert np.all([b.source.value == "manual" for b in window.canvas.boxes()])
