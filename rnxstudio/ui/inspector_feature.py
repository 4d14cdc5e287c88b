"""The Inspector dock in the main window: feature maps, Grad-CAM and architecture tables of
the model that pre-labels, for the image on screen.

The panel is built the first time the dock is shown (it lists the zoo, which imports torch);
its jobs run on the job engine's model lane, so inspection never competes with pre-labeling
for the model.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget, QLabel

from rnxstudio.ui.context import AppContext
from rnxstudio.ui.ml_import import ml_lock


class InspectorFeature(QObject):
    def __init__(self, ctx: AppContext, beside: QDockWidget | None = None):
        super().__init__(ctx.window)
        self.ctx = ctx
        self.panel = None
        self.jobs = None
        self._built = None
        self._last_rgb = None
        dock = QDockWidget("Inspector", ctx.window)
        dock.setObjectName("dock_inspector")
        hint = QLabel("Loading the inspector…", dock)
        hint.setAlignment(Qt.AlignCenter)
        dock.setWidget(hint)
        self.dock = ctx.add_dock(dock, Qt.RightDockWidgetArea, beside=beside, visible=False)
        dock.visibilityChanged.connect(self._on_visible)
        ctx.nav.image_ready.connect(self._on_image)
        ctx.models.built_ready.connect(self._on_built)
        ctx.actions.handle(toggle_inspector=self.toggle)

    def toggle(self, on: bool | None = None) -> None:
        show = (not self.dock.isVisible()) if on is None else bool(on)
        self.dock.setVisible(show)
        if show:
            self.dock.raise_()

    def _ensure_panel(self) -> None:
        if self.panel is not None:
            return
        from rnxstudio.ui.inspector import InspectorJobs, InspectorPanel

        with ml_lock():
            from rnxstudio.ml.zoo import MODELS

        self.panel = InspectorPanel(self.dock, model_names=list(MODELS))
        self.jobs = InspectorJobs(self.ctx.jobs, parent=self)
        self.panel.attach_worker(self.jobs)
        self.dock.setWidget(self.panel)
        if self._built is not None:
            self.jobs.set_model(self._built)

    def _on_visible(self, visible: bool) -> None:
        action = self.ctx.actions.by_id.get("toggle_inspector")
        if action is not None and action.isChecked() != visible:
            action.blockSignals(True)
            action.setChecked(visible)
            action.blockSignals(False)
        if visible:
            self._ensure_panel()
            self._inspect_current()

    def _on_built(self, built) -> None:
        self._built = built
        if self.jobs is not None:
            self.jobs.set_model(built)
            self._inspect_current()

    def _on_image(self, rec, rgb, error) -> None:
        self._last_rgb = rgb
        self._inspect_current()

    def _inspect_current(self) -> None:
        if self.panel is None or not self.dock.isVisible():
            return
        if self._last_rgb is None:
            self.panel.clear()
            return
        if self._built is None:
            self.panel.clear()
            self.panel.hover_label.setText("Load a model (Model → Choose Model…) to see its feature maps.")
            return
        self.panel.inspect(self._last_rgb)

    def shutdown(self) -> None:
        pass  # its jobs end with the job engine


def install(ctx: AppContext, beside: QDockWidget | None = None) -> InspectorFeature:
    return InspectorFeature(ctx, beside)
