"""AppContext: what a feature of the main window may use, handed to its ``install(ctx)``.

A feature (editing, classes, import/export, pre-labeling, training, video, inspector) reads the
context, subscribes to the session's signals and asks the session to change things. It never
sets or reads attributes on the window and never looks another feature up: what two features
share is a service here (the session, the navigator, the active model, the job engine). The
main window creates the context, installs the features in a fixed order and shuts them down in
the reverse order (:mod:`rnxstudio.ui.features`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMainWindow, QStatusBar, QWidget

if TYPE_CHECKING:
    from rnxstudio.ui.canvas import ImageCanvas
    from rnxstudio.ui.controller import ProjectController
    from rnxstudio.ui.jobs import JobEngine
    from rnxstudio.ui.models import ActiveModel
    from rnxstudio.ui.session_qt import SessionQt


class Feature(Protocol):
    def shutdown(self) -> None: ...


class StatusBar:
    """The window's status line and its error box, for features."""

    def __init__(self, bar: QStatusBar, show_error: Callable[[str, str], None]) -> None:
        self._bar = bar
        self._show_error = show_error

    def message(self, text: str, ms: int = 5000) -> None:
        self._bar.showMessage(text, ms)

    def error(self, title: str, message: str) -> None:
        """Shown once, non-blocking; the window keeps it in ``last_error``."""
        self._show_error(title, message)

    def add_widget(self, widget: QWidget) -> None:
        self._bar.addPermanentWidget(widget)


@dataclass
class Actions:
    """The action table's QActions by id, and the handler each feature registers for its ids."""

    by_id: dict[str, QAction]
    handlers: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def handle(self, **handlers: Callable[..., Any]) -> None:
        for action_id, fn in handlers.items():
            if action_id not in self.by_id:
                raise KeyError(f"no action {action_id!r} in the action table")
            self.handlers[action_id] = fn


@dataclass(frozen=True)
class AppContext:
    window: QMainWindow  # parent of docks and dialogs; nothing is set on it
    session: SessionQt  # the open project (its writer) and its change signals
    nav: ProjectController  # the image list, the current image, decoding
    canvas: ImageCanvas
    jobs: JobEngine  # the one worker engine
    models: ActiveModel  # the detector that pre-labels (and that the inspector looks at)
    status: StatusBar
    settings: QSettings
    actions: Actions

    def add_dock(self, dock: QDockWidget, area: Qt.DockWidgetArea = Qt.RightDockWidgetArea,
                 *, beside: QDockWidget | None = None, visible: bool = True) -> QDockWidget:
        self.window.addDockWidget(area, dock)
        if beside is not None:
            self.window.tabifyDockWidget(beside, dock)
        dock.setVisible(visible)
        return dock
