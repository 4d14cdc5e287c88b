"""The Inspector dock in the main window: feature maps, Grad-CAM and architecture tables of
the model that pre-labels, for the image on screen.

The panel is built the first time the dock is shown (it lists the zoo, which imports torch),
and its worker runs on the inference thread, so inspection never competes with pre-labeling
for the model.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget, QLabel

from rnxstudio.ui.ml_import import import_ml


class InspectorFeature(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.panel = None
        self.worker = None
        self._built = None
        self._last_rgb = None
        dock = QDockWidget("Inspector", window)
        dock.setObjectName("dock_inspector")
        hint = QLabel("Loading the inspector…", dock)
        hint.setAlignment(Qt.AlignCenter)
        dock.setWidget(hint)
        window.addDockWidget(Qt.RightDockWidgetArea, dock)
        editing = getattr(window, "editing", None)
        if editing is not None:
            window.tabifyDockWidget(editing.dock, dock)
        dock.hide()
        self.dock = dock
        dock.visibilityChanged.connect(self._on_visible)
        window.controller.image_ready.connect(self._on_image)
        window.prelabel.built_ready.connect(self._on_built)
        window.shutdown_hooks.insert(0, self.shutdown)  # before the inference thread is joined

    def toggle(self, on: bool | None = None) -> None:
        show = (not self.dock.isVisible()) if on is None else bool(on)
        self.dock.setVisible(show)
        if show:
            self.dock.raise_()

    def _ensure_panel(self) -> None:
        if self.panel is not None:
            return
        from rnxstudio.ui.inspector import InspectorPanel, InspectorWorker

        import_ml("rnxstudio.ml.zoo")
        from rnxstudio.ml.zoo import MODELS

        self.panel = InspectorPanel(self.dock, model_names=list(MODELS))
        self.worker = InspectorWorker(parent=self)
        thread = self.w.prelabel.worker.thread_handle
        self.worker.start(thread if thread is not None and thread.isRunning() else None)
        self.panel.attach_worker(self.worker)
        self.dock.setWidget(self.panel)
        if self._built is not None:
            self.worker.set_model(self._built)

    def _on_visible(self, visible: bool) -> None:
        action = self.w.actions_by_id.get("toggle_inspector")
        if action is not None and action.isChecked() != visible:
            action.blockSignals(True)
            action.setChecked(visible)
            action.blockSignals(False)
        if visible:
            self._ensure_panel()
            self._inspect_current()

    def _on_built(self, built) -> None:
        self._built = built
        if self.worker is not None:
            self.worker.set_model(built)
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
        if self.worker is not None:
            self.worker.shutdown()


def install(window) -> None:
    feature = InspectorFeature(window)
    window.inspector = feature
    window.handlers["toggle_inspector"] = feature.toggle
