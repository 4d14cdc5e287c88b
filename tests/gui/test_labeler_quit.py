"""Issue 15, item 12: quitting while pre-labelling or training asks once."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from waits import EVENT_MS

pytestmark = pytest.mark.gui


def _endless(ctx):
    while True:  # the engine's cancel gate stops it at a yield
        time.sleep(0.005)
        yield None


def _answer(button_text: str, seen: list) -> None:
    """Click ``button_text`` in the quit question as soon as it is open (it runs modal)."""

    def poll() -> None:
        boxes = [w for w in QApplication.topLevelWidgets()
                 if isinstance(w, QMessageBox) and w.objectName() == "quit_while_busy" and w.isVisible()]
        if not boxes:
            QTimer.singleShot(20, poll)
            return
        seen.append(boxes[0].text())
        next(b for b in boxes[0].buttons() if b.text() == button_text).click()

    QTimer.singleShot(0, poll)


@pytest.mark.modal
@pytest.mark.parametrize("kind, word", [("prelabel", "pre-labelling"), ("train", "training")])
def test_quit_during_a_job_asks_once_and_keep_working_keeps_it(window, qtbot, kind, word):
    from rnxstudio.ui.jobs import TRAIN_LANE, MODEL_LANE

    job = window.jobs.submit(kind, _endless, lane=TRAIN_LANE if kind == "train" else MODEL_LANE)
    qtbot.waitUntil(lambda: window.jobs.busy(job.lane), timeout=EVENT_MS)
    seen: list[str] = []
    _answer("Keep working", seen)
    window.actions_by_id["quit"].trigger()
    assert len(seen) == 1 and word in seen[0].lower()
    assert window.isVisible() and window.jobs.active(kind) is job  # nothing cancelled
    _answer("Cancel the job and quit", seen)
    window.close()
    assert len(seen) == 2  # asked again for this second quit, once
    assert not window.isVisible()
    assert job.cancel_event.is_set() and not window.jobs.alive()


def test_quit_with_nothing_running_does_not_ask(window):
    window.close()
    assert not window.isVisible()


def test_a_signal_quits_without_asking(window, qtbot):
    job = window.jobs.submit("prelabel", _endless)
    qtbot.waitUntil(lambda: window.jobs.busy(job.lane), timeout=EVENT_MS)
    window.ask_before_quit = False  # what the SIGTERM / Ctrl+C handler sets
    window.close()
    assert not window.isVisible() and job.cancel_event.is_set()
