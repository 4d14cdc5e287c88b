"""Issue 15, item 9: the image list, its filters and the position counter follow the project."""

from __future__ import annotations

import pytest

from waits import EVENT_MS
from rnxstudio.core.model import ImageStatus
from rnxstudio.data.demo import make_shapes_dataset, make_shapes_video
from window_helpers import wait_for_image

pytestmark = pytest.mark.gui


@pytest.fixture
def folder(tmp_path):
    make_shapes_dataset(6, (120, 90), seed=4, out_dir=tmp_path / "imgs")
    (tmp_path / "imgs" / "annotations.json").unlink()
    return tmp_path / "imgs"


def _type_search(qtbot, window, text: str) -> None:
    window.search.setText(text)
    qtbot.waitUntil(lambda: window.controller.files.filter["search"] == (text or None), timeout=EVENT_MS)


def test_position_counter_follows_a_filter_change(window, qtbot, folder):
    assert window.open_path(folder)
    wait_for_image(qtbot, window)
    window.actions_by_id["next_image"].trigger()
    window.actions_by_id["next_image"].trigger()
    assert window.sb_index.text() == "3 / 6"
    _type_search(qtbot, window, "0000")  # shape_00000 … shape_00005: all six still match
    assert window.sb_index.text() == "3 / 6"
    _type_search(qtbot, window, "shape_00002")
    assert window.controller.files.rowCount() == 1
    assert window.sb_index.text() == "1 / 1"
    window.controller.session.verify(window.controller.files.ids()[0])
    _type_search(qtbot, window, "")
    window.status_filter.setCurrentIndex(window.status_filter.findData(ImageStatus.UNLABELED))
    assert window.controller.files.rowCount() == 5
    assert window.sb_index.text() == "– / 5"  # the image on screen is not in the list any more


def test_search_does_not_carry_over_to_the_next_project(window, qtbot, folder, tmp_path):
    make_shapes_video(tmp_path / "clip.avi", n_frames=12, size=(96, 64), seed=2)
    assert window.open_path(folder)
    wait_for_image(qtbot, window)
    _type_search(qtbot, window, "shape_00004")
    window.status_filter.setCurrentIndex(window.status_filter.findData(ImageStatus.UNLABELED))
    assert window.controller.files.rowCount() == 1
    assert window.open_path(tmp_path / "clip.avi")
    assert window.search.text() == "" and window.status_filter.currentData() is None
    assert window.controller.files.rowCount() == 12
    assert window.controller.current is not None
    wait_for_image(qtbot, window)
    assert window.canvas.image_size() == (96, 64)
    slider = window.features.video.slider
    assert slider.isEnabled() and slider.maximum() == 11
    slider.setValue(5)
    assert window.controller.current_row == 5
    assert window.sb_index.text() == "6 / 12"


def test_frame_slider_follows_a_search_on_a_video(window, qtbot, tmp_path):
    make_shapes_video(tmp_path / "clip.avi", n_frames=12, size=(96, 64), seed=2)
    assert window.open_path(tmp_path / "clip.avi")
    wait_for_image(qtbot, window)
    slider = window.features.video.slider
    _type_search(qtbot, window, "no such frame")
    assert window.controller.files.rowCount() == 0 and not slider.isEnabled()
    _type_search(qtbot, window, "")  # cleared: the slider works again
    assert slider.isEnabled() and slider.maximum() == 11
    slider.setValue(7)
    assert window.controller.current_row == 7


def test_a_decode_of_the_last_project_never_shows_in_the_next(qtbot, tmp_path):
    """Image ids repeat across projects: after clear(), a late decode of the old image 1 is
    dropped and a request for the new image 1 is not mistaken for it."""
    import numpy as np
    from PySide6.QtCore import QCoreApplication

    from rnxstudio.ui.image_cache import ImageCache

    make_shapes_dataset(1, (40, 30), seed=1, out_dir=tmp_path / "old")
    make_shapes_dataset(1, (64, 48), seed=2, out_dir=tmp_path / "new")
    cache = ImageCache()
    got = []
    cache.ready.connect(lambda key, rgb, err: got.append((key, None if rgb is None else rgb.shape)))
    try:
        cache.request(1, tmp_path / "old" / "shape_00000.png")  # in flight …
        cache.clear()  # … when the project changes
        cache.request(1, tmp_path / "new" / "shape_00000.png")
        qtbot.waitUntil(lambda: (1, (48, 64, 3)) in got, timeout=EVENT_MS)
        QCoreApplication.processEvents()
        assert (1, (30, 40, 3)) not in got
        assert cache.get(1).shape == (48, 64, 3) and isinstance(cache.get(1), np.ndarray)
    finally:
        cache.shutdown()


def test_closing_never_waits_forever_on_a_stuck_decode(qtbot, tmp_path, caplog, monkeypatch):
    """A decode stuck in a library (a hung network share, a decoder bug) must not hang the window's
    close: the cache waits a bounded time, logs where the decode thread is, and leaves it (daemon)."""
    import threading

    import rnxstudio.ui.image_cache as ic

    gate = threading.Event()
    entered = threading.Event()

    class StuckReader:
        def read(self, source):
            entered.set()
            gate.wait(30)
            raise ic.ImageLoadError(source, "never decoded")

        def close(self):
            pass

    monkeypatch.setattr(ic, "SourceReader", StuckReader)
    monkeypatch.setattr(ic, "SHUTDOWN_JOIN_S", 0.2)
    cache = ic.ImageCache()
    try:
        cache.request(1, tmp_path / "a.png")
        assert entered.wait(10)
        with caplog.at_level("WARNING", logger="rnxstudio.ui.image_cache"):
            cache.shutdown()
        assert "rnx-decode did not stop within 0.2 s" in caplog.text and "in read" in caplog.text, caplog.text
        assert cache._fg.thread.daemon and cache._fg.thread.is_alive()
    finally:
        gate.set()
    cache._fg.thread.join(10)
    assert not cache._fg.thread.is_alive()


def test_a_broken_image_prefetched_in_an_instant_still_shows_its_error(qtbot, tmp_path):
    """A broken file fails to decode in microseconds. When the prefetch thread finished it before
    the cache had noted the decode as pending, the note stayed behind: the image (never cached)
    was never decoded again and stepping onto it showed nothing (issue 13's flake under load).
    Here the 'thread' runs each task the moment it is queued: the worst interleaving, every time."""
    import rnxstudio.ui.image_cache as ic

    class Inline:
        def put(self, task):
            task.fn(*task.args, task)

        def stop(self, timeout_s):
            return True

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a png")
    cache = ic.ImageCache()
    cache._fg.stop(1)
    cache._bg.stop(1)
    cache._fg, cache._bg = Inline(), Inline()
    got = []
    cache.ready.connect(lambda key, rgb, err: got.append((key, rgb, err)))
    cache.prefetch([(2, bad)])  # decoded (and failed) before prefetch() returns
    assert cache._pending == {} and got == []  # nobody wanted it yet
    cache.request(2, bad)
    assert len(got) == 1 and got[0][0] == 2 and got[0][1] is None and "not an image" in got[0][2], got
    assert cache._pending == {}
