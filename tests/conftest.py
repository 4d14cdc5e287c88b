"""Test-wide set-up: offscreen Qt, a private RNXSTUDIO_HOME, paths to the shared corpus."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("RNXSTUDIO_NO_DOWNLOAD", "1")  # tests never download weights
# QSettings (recent folders, theme, geometry) must never touch the real user's config
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="rnx-test-config-")

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = REPO_ROOT.parent / "shared" / "corpus"


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory, monkeypatch):
    """Every test gets its own user data dir, so nothing touches the real one."""
    home = tmp_path_factory.mktemp("rnxhome")
    monkeypatch.setenv("RNXSTUDIO_HOME", str(home))
    return home


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared image corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture
def qt_messages():
    """Collect Qt warnings/criticals emitted during a test."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    seen: list[str] = []

    def handler(mode, _ctx, msg):
        if mode in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            if "propagateSizeHints" not in msg:  # offscreen platform plugin noise
                seen.append(msg)

    previous = qInstallMessageHandler(handler)
    yield seen
    qInstallMessageHandler(previous)


@pytest.fixture
def window(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from rnxstudio.ui.app import make_app
    from rnxstudio.ui.main_window import MainWindow

    make_app()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()
