"""The empty state: a small "Next steps" dock that names the next three actions and their keys.

With no project it offers the demo, a folder and the shortcut list; in a project it follows the
loop (pre-label -> correct -> fine-tune) with the project's counts, from
:func:`rnxstudio.data.next_steps.next_steps`. Each step's key comes from the action table (the
QAction's shortcut), so no key is written twice, and its button runs the action. It is a dock,
not a modal tour: shown with no project and on the first open of each demo version, and
otherwise one click away in the View menu.

Opening a project that names a preferred model (the demo names the shipped ``demo`` detector)
is handled by pre-labeling (:mod:`rnxstudio.ui.prelabel`); this panel only reads.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget, QGridLayout, QLabel, QToolButton, QWidget

from rnxstudio.data.next_steps import NextStep, next_steps, render
from rnxstudio.ui.actions import ACTIONS
from rnxstudio.ui.context import AppContext

SEEN_KEY = "next_steps/seen_demo_version"  # QSettings: the demo versions already opened once


class NextStepsPanel(QObject):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx.window)
        self.ctx = ctx
        self.dock = QDockWidget("Next steps", ctx.window)
        self.dock.setObjectName("dock_next_steps")
        box = QWidget(self.dock)
        self.grid = QGridLayout(box)
        self.grid.setContentsMargins(6, 4, 6, 4)
        self.grid.setColumnStretch(1, 1)
        self.rows: list[tuple[QLabel, QLabel, QToolButton]] = []
        for i in range(3):
            number, text, go = QLabel(f"{i + 1}.", box), QLabel(box), QToolButton(box)
            text.setWordWrap(True)
            text.setTextFormat(Qt.PlainText)
            go.clicked.connect(lambda _c=False, row=i: self._run(row))
            self.grid.addWidget(number, i, 0, Qt.AlignTop)
            self.grid.addWidget(text, i, 1)
            self.grid.addWidget(go, i, 2, Qt.AlignTop)
            self.rows.append((number, text, go))
        self.dock.setWidget(box)
        ctx.add_dock(self.dock, Qt.LeftDockWidgetArea, visible=True)
        self.steps: list[NextStep] = []
        self._refresh_timer = QTimer(self, singleShot=True, interval=150)  # a pre-label run changes many images
        self._refresh_timer.timeout.connect(self.refresh)

        nav, s = ctx.nav, ctx.session
        nav.project_opened.connect(self._on_opened)
        nav.project_closed.connect(self._on_closed)
        for sig in (s.images_changed, s.predictions_changed, s.categories_changed):
            sig.connect(lambda *_a: self._refresh_timer.start())
        ctx.models.changed.connect(lambda _t: self._refresh_timer.start())
        self.refresh()
        # the window restores its saved dock layout after the features are installed; with no
        # project open the empty state shows whatever that layout says
        QTimer.singleShot(0, self._show_if_empty)

    # ------------------------------------------------------------------ what to show
    def keys(self) -> dict[str, str]:
        """Every action's first key as the user reads it: its QAction shortcut, else the key a
        widget handles for it (Space verifies as a tap on the canvas and lists, not as a menu
        shortcut), without the gesture note."""
        out = {aid: act.shortcut().toString(QKeySequence.NativeText) for aid, act in self.ctx.actions.by_id.items()}
        for spec in ACTIONS:
            if not out.get(spec.id) and spec.keys:
                out[spec.id] = spec.keys[0].split(" (")[0]
        return {aid: key for aid, key in out.items() if key}

    def lines(self) -> list[str]:
        """The steps as shown: text, then the key of the step's own action (tests read these)."""
        keys = self.keys()
        out = []
        for step in self.steps:
            key = keys.get(step.action)
            out.append(render(step, keys) + (f"  [{key}]" if key else ""))
        return out

    def refresh(self) -> None:
        store = self.ctx.nav.store
        choice = self.ctx.models.choice
        self.steps = next_steps(store, model=choice.title if choice is not None else None)
        keys = self.keys()
        for (number, text, go), step, line in zip(self.rows, self.steps, self.lines()):
            text.setText(line)
            action = self.ctx.actions.by_id.get(step.action)
            go.setText(action.text().replace("&", "") if action is not None else step.action)
            go.setToolTip(f"{go.text()} ({keys.get(step.action)})" if keys.get(step.action) else go.text())
            go.setEnabled(action is not None and step.action in self.ctx.actions.handlers)
            for w in (number, text):
                w.setEnabled(not step.done)  # a step with nothing left to do is greyed out

    def _run(self, row: int) -> None:
        if row < len(self.steps):
            action = self.ctx.actions.by_id.get(self.steps[row].action)
            if action is not None and action.isEnabled():
                action.trigger()

    # ------------------------------------------------------------------ when to show it
    def _show_if_empty(self) -> None:
        if self.ctx.nav.store is None:
            self.dock.setVisible(True)

    def _on_closed(self) -> None:
        self.refresh()
        self.dock.setVisible(True)

    def _on_opened(self, store) -> None:
        self.refresh()
        version = store.meta("demo_version")
        if version is None:
            self.dock.setVisible(False)  # the user's own project: one click away in the View menu
            return
        seen = self._seen_versions()
        self.dock.setVisible(version not in seen)  # the demo's first open
        if version not in seen:
            self.ctx.settings.setValue(SEEN_KEY, sorted(seen | {version}))

    def _seen_versions(self) -> set[str]:
        value = self.ctx.settings.value(SEEN_KEY, [])
        if isinstance(value, str):
            value = [value]
        return {str(v) for v in value or []}

    def shutdown(self) -> None:
        self._refresh_timer.stop()


def install(ctx: AppContext) -> NextStepsPanel:
    return NextStepsPanel(ctx)
