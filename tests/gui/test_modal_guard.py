"""The suite's modal guard (tests/conftest.py): a GUI test that reaches a modal dialog it did not stub
fails at once, naming the dialog, instead of waiting forever for a click nobody makes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui
TESTS = Path(__file__).resolve().parents[1]

PROBE = '''
import pytest
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

app = QApplication.instance() or QApplication([])


@pytest.mark.gui
def test_reaches_a_message_box():
    box = QMessageBox(QMessageBox.Question, "Replace the labels?", "text")
    box.exec()


@pytest.mark.gui
def test_reaches_a_file_dialog():
    QFileDialog.getOpenFileName(None, "Open video")


@pytest.mark.gui
@pytest.mark.modal
def test_marked_modal_is_left_alone():
    assert QMessageBox.exec is not None
'''


def test_an_unstubbed_modal_fails_the_test_and_names_it(tmp_path):
    (tmp_path / "test_probe.py").write_text(PROBE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    gui: x\n    modal: x\n")
    env = dict(os.environ, PYTHONPATH=str(TESTS), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:pytest-qt", "test_probe.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "QMessageBox.exec 'Replace the labels?'" in out, out[-3000:]
    assert "QFileDialog.getOpenFileName 'Open video'" in out, out[-3000:]
    assert "3 passed, 2 errors" in out, out[-3000:]  # the two calls pass, their teardowns fail
