"""QApplication set-up and the GUI entry point."""

from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from rnxstudio import __version__
from rnxstudio.core.paths import resources_dir
from rnxstudio.ui.theme import apply_theme


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName("rnxstudio")
        QCoreApplication.setApplicationName("rnxstudio")
        QCoreApplication.setApplicationVersion(__version__)
        app = QApplication(argv if argv is not None else sys.argv[:1])
    apply_theme(app)
    icon_path = resources_dir() / "icons" / "rnxstudio.svg"
    if icon_path.is_file():
        app.setWindowIcon(QIcon(str(icon_path)))
    return app


def _close_on_signals(app: QApplication, window) -> None:
    """Ctrl+C / SIGTERM close the window the normal way (workers joined, settings saved).
    Qt's event loop does not run Python signal handlers by itself, so a short timer gives the
    interpreter a chance to."""
    import signal

    from PySide6.QtCore import QTimer

    def close_and_quit() -> None:
        window.close()
        app.quit()

    def handler(_signum, _frame):
        # Python runs this between any two bytecodes of whatever Python code Qt is calling (a
        # model's data() during a paint, a slot…); closing right here would reset models and
        # delete objects under that caller's feet (IndexError, then segfault). Queue it instead.
        QTimer.singleShot(0, close_and_quit)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread / not supported here
            pass
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def run_app(path: str | None = None, demo: bool = False) -> int:
    app = make_app()
    from rnxstudio.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    _close_on_signals(app, window)
    if demo:
        window.open_demo()
    elif path:
        window.open_path(path)
    return app.exec()
