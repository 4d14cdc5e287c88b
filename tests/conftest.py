"""Test-wide set-up: offscreen Qt, a private RNXSTUDIO_HOME, paths to the shared corpus, and two
guards against drift: corpus tests may not skip while the corpus is there, and ``monkeypatch``
refuses to patch an ``nn.Module`` (pytest >= 9 deletes such attributes on undo)."""

from __future__ import annotations

import faulthandler
import os
import sys
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


# A test that hangs (a deadlock, a modal dialog nobody answers) would hold CI until its own limit and
# print nothing. Past this many seconds in one test, every thread's stack goes to the real stderr and
# the run exits with an error instead. Well above the longest wait a test makes (waits.MODEL_MS).
HANG_S = float(os.environ.get("RNX_TEST_HANG_S", "900"))
_hang_fd: int | None = None


def pytest_configure(config):
    global _hang_fd
    if HANG_S > 0 and _hang_fd is None:
        # output capture is suspended while plugins configure: fd 2 is the terminal (or CI's log) here
        _hang_fd = os.dup(sys.__stderr__.fileno())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if _hang_fd is None:
        yield
        return
    os.write(_hang_fd, b"")  # the fd must still be open when the timer fires
    faulthandler.dump_traceback_later(HANG_S, exit=True, file=_hang_fd)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


CORPUS_MISSING = "shared image corpus not found"  # every corpus test skips with this text


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS_MISSING} at {CORPUS}")
    return CORPUS


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A corpus test that skips while ../shared/corpus exists is a failure, not a quiet skip: a moved
    or renamed corpus file must not turn those tests off unnoticed."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and call.excinfo is not None:
        reason = str(call.excinfo.value)
        if corpus_skip_is_a_failure(reason, CORPUS.is_dir()):
            report.outcome = "failed"
            report.longrepr = f"corpus test skipped although {CORPUS} exists: {reason}"


def corpus_skip_is_a_failure(reason: str, corpus_exists: bool) -> bool:
    return corpus_exists and "corpus" in reason.lower()


def pytest_terminal_summary(terminalreporter):
    if not CORPUS.is_dir():
        skipped = [r for r in terminalreporter.stats.get("skipped", []) if CORPUS_MISSING in str(r.longrepr)]
        if skipped:
            terminalreporter.write_line(
                f"NOTE: {len(skipped)} corpus tests skipped: {CORPUS} not found (clone next to ../shared)", yellow=True)


@pytest.fixture
def monkeypatch(monkeypatch):
    """The built-in fixture, refusing ``setattr`` on an ``nn.Module``: its children live in
    ``_modules``, not ``__dict__``, and pytest >= 9 *deletes* such attributes when it undoes the
    patch, so a patched module-scoped model loses e.g. ``roi_heads`` for every later test. Swap
    the child in a try/finally, or build a fresh model, instead."""
    real_setattr = monkeypatch.setattr

    def guarded(target, *args, **kwargs):
        # getattr: another thread may be importing torch right now (a GUI worker warming up), and a
        # half-imported torch in sys.modules has no .nn yet -- no nn.Module can exist then either
        module_cls = getattr(getattr(sys.modules.get("torch"), "nn", None), "Module", None)
        if module_cls is not None and isinstance(target, module_cls):
            raise TypeError(f"monkeypatch.setattr on an nn.Module ({type(target).__name__}): swap the "
                            "attribute in a try/finally or build a fresh model (see tests/conftest.py)")
        return real_setattr(target, *args, **kwargs)

    monkeypatch.setattr = guarded
    return monkeypatch


# Static Qt calls that run a modal event loop of their own, and what a user's "cancel" returns from
# each: in an offscreen test nobody answers them, so one reached by accident would hang the run (an
# outer wait's timeout cannot fire inside it).
_MODAL_STATICS = {
    "QFileDialog": {"getOpenFileName": ("", ""), "getOpenFileNames": ([], ""), "getSaveFileName": ("", ""),
                    "getExistingDirectory": ""},
    "QInputDialog": {"getText": ("", False), "getInt": (0, False), "getDouble": (0.0, False),
                     "getItem": ("", False), "getMultiLineText": ("", False)},
    "QMessageBox": {name: 0x00400000 for name in ("question", "warning", "critical", "information", "about")},
}  # 0x00400000: QMessageBox.Cancel


@pytest.fixture(autouse=True)
def _no_unanswered_modal(request, monkeypatch):
    """In GUI tests, a modal dialog that the test did not stub (``monkeypatch.setattr(SomeDialog, "exec",
    ...)``) fails the test at once, naming the dialog, instead of blocking forever. A test that answers
    a real modal itself (a timer clicking its button) is marked ``modal``."""
    if request.node.get_closest_marker("gui") is None or request.node.get_closest_marker("modal") is not None:
        yield
        return
    from PySide6 import QtWidgets

    opened: list[str] = []

    def refuse(what: str, result):
        def stub(*args, **_kwargs):
            if len(args) > 1 and isinstance(args[1], str):  # a static call: (parent, title, ...)
                title = args[1]
            else:  # dialog.exec(): the dialog itself
                title = args[0].windowTitle() if args and isinstance(args[0], QtWidgets.QWidget) else ""
            opened.append(f"{what} {title!r}")
            return result
        return stub

    monkeypatch.setattr(QtWidgets.QDialog, "exec", refuse("QDialog.exec", 0))
    monkeypatch.setattr(QtWidgets.QMessageBox, "exec", refuse("QMessageBox.exec", QtWidgets.QMessageBox.Cancel))
    for cls_name, answers in _MODAL_STATICS.items():
        cls = getattr(QtWidgets, cls_name)
        for name, cancelled in answers.items():
            monkeypatch.setattr(cls, name, staticmethod(refuse(f"{cls_name}.{name}", cancelled)))
    yield
    assert not opened, f"a modal dialog opened that the test did not stub (it would wait for a click): {opened}"


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
    w.ask_before_quit = False  # a test that ends with a job running must not wait for an answer
    w.close()
