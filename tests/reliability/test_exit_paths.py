"""Nothing is ever unsaved: an edit is in the project file the moment it is made, whichever way
the user leaves the image (list click, next, close, quit, SIGTERM). "Keep previous annotations"
(paste previous / copy to next frame) only touches the image being edited."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtCore import Qt

from canvas_helpers import image_drag
from conftest import GUI_TESTS, make_labelled_folder
from rnxstudio.core.model import BoxSource
from rnxstudio.data.store import ProjectStore
from window_helpers import open_with_classes
from waits import EVENT_MS

pytestmark = [pytest.mark.reliability, pytest.mark.gui]


def _persons_boxes_on_disk(path) -> dict[int, list[tuple]]:
    """What another process would see: a fresh connection to the project file."""
    with ProjectStore.open(path) as store:
        return {i: sorted((b.category_id, *b.xyxy) for b in store.boxes(i) if b.source is not BoxSource.PREDICTED)
                for i in store.image_ids()}


@pytest.fixture
def opened(window, qtbot, tmp_path):
    folder = make_labelled_folder(tmp_path)
    return open_with_classes(qtbot, window, folder)


def show(window, qtbot, image_id: int) -> None:
    """Make ``image_id`` current and wait until the canvas shows it (not the previous image)."""
    with qtbot.waitSignal(window.controller.image_ready, timeout=EVENT_MS,
                          check_params_cb=lambda rec, _rgb, _err: rec.id == image_id):
        window.controller.set_current(image_id)


def _draw_move_nudge(window, qtbot):
    """Draw a box, drag it, nudge it with Shift+Right; return the box id and the expected coords."""
    cv = window.canvas
    window.actions_by_id["draw_box"].trigger()
    image_drag(cv, (10, 12), (40, 42))
    (box_id,) = cv.selected_ids()
    image_drag(cv, (25, 27), (30, 29))  # move by (5, 2)
    cv.select([box_id])
    cv.setFocus()
    qtbot.keyClick(cv.viewport(), Qt.Key_Right, Qt.ShiftModifier)  # +10 px, the last edit
    return box_id


@pytest.mark.parametrize("how", ["list-click", "next-key", "verify-next", "close-window"])
def test_last_edit_is_on_disk_whatever_the_exit(window, qtbot, opened, how):
    store = opened
    first = window.controller.current.id
    box_id = _draw_move_nudge(window, qtbot)
    expected = store.get_box(box_id)
    assert expected.x1 == pytest.approx(25, abs=0.6) and expected.y1 == pytest.approx(14, abs=0.6)
    path = store.path
    if how == "list-click":
        index = window.controller.files.index(2)
        window.file_view.selectionModel().setCurrentIndex(index, window.file_view.selectionModel().SelectionFlag.ClearAndSelect)
        assert window.controller.current.id != first
    elif how == "next-key":
        window.actions_by_id["next_image"].trigger()
        assert window.controller.current.id != first
    elif how == "verify-next":
        window.actions_by_id["verify_next"].trigger()
    else:
        window.close()
    on_disk = _persons_boxes_on_disk(path)
    assert on_disk[first] == [(expected.category_id, *expected.xyxy)]
    assert all(v == [] for k, v in on_disk.items() if k != first)


def test_undo_redo_are_on_disk_at_once(window, qtbot, opened):
    store = opened
    first = window.controller.current.id
    _draw_move_nudge(window, qtbot)
    for _ in range(3):
        window.actions_by_id["undo"].trigger()
    assert _persons_boxes_on_disk(store.path)[first] == []
    window.actions_by_id["redo"].trigger()
    assert len(_persons_boxes_on_disk(store.path)[first]) == 1


CHILD = """
import sys
sys.path.insert(0, sys.argv[2])
from PySide6.QtCore import QSettings, QTimer
from rnxstudio.ui.app import _close_on_signals, make_app
from rnxstudio.ui.main_window import MainWindow
from canvas_helpers import image_drag

app = make_app()
w = MainWindow(settings=QSettings(sys.argv[3], QSettings.IniFormat))
w.show()
_close_on_signals(app, w)
assert w.open_path(sys.argv[1])
store = w.controller.store
w.controller.session.category_ids_for(["thing"])
mode = sys.argv[4]

def edit():
    if w.canvas.image_size() is None:
        QTimer.singleShot(20, edit)
        return
    w.actions_by_id["draw_box"].trigger()
    image_drag(w.canvas, (10, 10), (50, 40))
    (box_id,) = w.canvas.selected_ids()
    w.features.editing.move_box(box_id, (12.0, 11.0, 52.0, 41.0))
    print("edited", box_id, store.path, flush=True)
    if mode == "quit":
        w.actions_by_id["quit"].trigger()
        app.quit()

QTimer.singleShot(0, edit)
rc = app.exec()
print("exit", rc, flush=True)
"""


@pytest.mark.skipif(os.name != "posix", reason="needs SIGTERM")
@pytest.mark.parametrize("mode", ["quit", "sigterm"])
def test_quit_and_sigterm_right_after_an_edit(tmp_path, mode):
    folder = make_labelled_folder(tmp_path, n=3)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), str(folder), str(GUI_TESTS),
                             str(tmp_path / "s.ini"), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("edited"), line + proc.stderr.read()
        _, box_id, path = line.split()
        if mode == "sigterm":
            os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "exit 0" in out
    assert "QThread" not in err and "Traceback" not in err, err
    with ProjectStore.open(path) as store:
        assert store.get_box(int(box_id)).xyxy == (12.0, 11.0, 52.0, 41.0)


# ------------------------------------------------------------------- keep previous annotations


def test_paste_previous_and_copy_to_next_only_touch_their_target(window, qtbot, opened):
    store = opened
    ids = window.controller.files.ids()
    window.actions_by_id["draw_box"].trigger()
    image_drag(window.canvas, (5, 5), (30, 30))
    window.actions_by_id["draw_box"].trigger()
    image_drag(window.canvas, (40, 40), (70, 60))
    snapshot = _persons_boxes_on_disk(store.path)
    # copy to next: boxes land on image 2 only, and the view follows
    window.handlers["copy_to_next_frame"]()
    assert window.controller.current.id == ids[1]
    after_copy = _persons_boxes_on_disk(store.path)
    assert after_copy[ids[1]] == snapshot[ids[0]]
    assert {k: v for k, v in after_copy.items() if k != ids[1]} == {k: v for k, v in snapshot.items() if k != ids[1]}
    # go two images on, paste previous there: only that image changes
    show(window, qtbot, ids[2])
    window.actions_by_id["paste_previous"].trigger()  # image 3 <- image 2's boxes
    after_paste = _persons_boxes_on_disk(store.path)
    assert after_paste[ids[2]] == after_copy[ids[1]]
    assert {k: v for k, v in after_paste.items() if k != ids[2]} == {k: v for k, v in after_copy.items() if k != ids[2]}
    # paste previous again on the same image adds a second copy there, still nowhere else
    window.actions_by_id["paste_previous"].trigger()
    again = _persons_boxes_on_disk(store.path)
    assert {k: v for k, v in again.items() if k != ids[2]} == {k: v for k, v in after_copy.items() if k != ids[2]}
    # undo (twice) removes exactly the pastes, from image 3 only
    window.actions_by_id["undo"].trigger()
    window.actions_by_id["undo"].trigger()
    assert _persons_boxes_on_disk(store.path) == after_copy
    # on the first image there is no previous one: nothing happens anywhere
    show(window, qtbot, ids[0])
    window.actions_by_id["paste_previous"].trigger()
    assert _persons_boxes_on_disk(store.path) == after_copy


def test_paste_previous_uses_the_list_order_of_the_filtered_view(window, qtbot, opened):
    """With a status filter, "previous" is the previous row shown; the current image is still the
    only one written."""
    from rnxstudio.core.model import ImageStatus

    store = opened
    ids = window.controller.files.ids()
    window.actions_by_id["draw_box"].trigger()
    image_drag(window.canvas, (5, 5), (30, 30))  # image 1 becomes in progress
    show(window, qtbot, ids[3])
    window.actions_by_id["draw_box"].trigger()
    image_drag(window.canvas, (8, 8), (20, 20))  # image 4 in progress too
    index = window.status_filter.findData(ImageStatus.IN_PROGRESS)
    assert index >= 0
    window.status_filter.setCurrentIndex(index)
    assert window.controller.files.ids() == [ids[0], ids[3]]
    before = _persons_boxes_on_disk(store.path)
    window.actions_by_id["paste_previous"].trigger()  # image 4 <- image 1
    after = _persons_boxes_on_disk(store.path)
    assert after[ids[3]] == sorted(before[ids[3]] + before[ids[0]])
    assert {k: v for k, v in after.items() if k != ids[3]} == {k: v for k, v in before.items() if k != ids[3]}
