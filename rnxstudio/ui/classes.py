"""The Classes feature: the Classes dock follows the project's classes, and its requests — add,
rename, merge, delete — become undoable session edits. Keys 1–9 pick a class; "only current
class" filters the canvas by it."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDockWidget

from rnxstudio.core.model import Category
from rnxstudio.ui.class_panel import ClassPanel
from rnxstudio.ui.context import AppContext


class ClassesFeature(QObject):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx.window)
        self.ctx = ctx
        self.panel = ClassPanel(ctx.window)
        self.dock = QDockWidget("Classes", ctx.window)
        self.dock.setObjectName("dock_classes")
        self.dock.setWidget(self.panel)
        ctx.add_dock(self.dock, Qt.RightDockWidgetArea)
        s, cv, p = ctx.session, ctx.canvas, self.panel
        s.opened.connect(lambda _session: self._show_categories())
        s.closed.connect(lambda: p.set_categories([]))
        s.categories_changed.connect(self._show_categories)
        p.current_changed.connect(self._on_current)
        p.add_requested.connect(self.add)
        p.rename_requested.connect(self.rename)
        p.merge_requested.connect(self.merge)
        p.delete_requested.connect(self.delete)
        p.score_changed.connect(cv.set_min_score)
        p.opacity_changed.connect(cv.set_opacity)
        cv.set_min_score(p.threshold)
        for n in range(1, 10):
            QShortcut(QKeySequence(str(n)), ctx.window).activated.connect(lambda n=n: p.select_number(n))
        ctx.actions.handle(only_current_class=self._toggle_class_filter)

    def _show_categories(self) -> None:
        store = self.ctx.nav.store
        self.panel.set_categories(store.categories() if store is not None else [], current=self.panel.current_id())

    def categories(self) -> list[Category]:
        return self.panel.categories()

    def current_id(self) -> int | None:
        return self.panel.current_id()

    @property
    def threshold(self) -> float:
        return self.panel.threshold

    def _on_current(self, category_id) -> None:
        self.ctx.canvas.set_current_category(category_id)
        if self.ctx.actions.by_id["only_current_class"].isChecked():
            self.ctx.canvas.set_class_filter(category_id)

    def _toggle_class_filter(self, on: bool) -> None:
        self.ctx.canvas.set_class_filter(self.panel.current_id() if on else None)

    # ------------------------------------------------------------------ edits (undoable)
    def add(self, name: str) -> Category | None:
        session = self.ctx.nav.session
        if session is None:
            return None
        if session.store.category_by_name(name.strip()) is not None:
            self.ctx.status.error("Add class", f"A class named '{name.strip()}' already exists.")
            return None
        cat = session.add_category(name)
        if cat is not None:
            self.panel.select_id(cat.id)
        return cat

    def rename(self, category_id: int, name: str) -> bool:
        session = self.ctx.nav.session
        return session is not None and session.rename_category(category_id, name)

    def merge(self, category_id: int, into_id: int) -> bool:
        session = self.ctx.nav.session
        if session is None or not session.merge_categories(category_id, into_id):
            return False
        self.panel.select_id(into_id)
        return True

    def delete(self, category_id: int) -> bool:
        session = self.ctx.nav.session
        return session is not None and session.delete_category(category_id)

    def shutdown(self) -> None:
        pass


def install(ctx: AppContext) -> ClassesFeature:
    return ClassesFeature(ctx)
