"""Video navigation: a frame slider with step buttons, frame number and timestamp, jump-to.

A video project lists one row per frame, so stepping frames is stepping rows; the slider is a
faster way to scrub. The bar is hidden for image-folder projects.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QInputDialog, QLabel, QSlider, QToolBar, QToolButton

from rnxstudio.ui.context import AppContext
from rnxstudio.ui.icons import icon


class VideoNavigator(QObject):
    def __init__(self, ctx: AppContext):
        super().__init__(ctx.window)
        self.ctx = ctx
        self.controller = ctx.nav
        window = ctx.window
        bar = QToolBar("Video", window)
        bar.setObjectName("toolbar_video")
        self.prev_button = QToolButton(bar)
        self.prev_button.setIcon(icon("fa5s.step-backward"))
        self.prev_button.setToolTip("Previous frame (,)")
        self.next_button = QToolButton(bar)
        self.next_button.setIcon(icon("fa5s.step-forward"))
        self.next_button.setToolTip("Next frame (.)")
        self.slider = QSlider(Qt.Horizontal, bar)
        self.slider.setMinimumWidth(300)
        self.slider.setTracking(False)  # decode once on release, not for every pixel dragged
        self.label = QLabel("", bar)
        bar.addWidget(self.prev_button)
        bar.addWidget(self.slider)
        bar.addWidget(self.next_button)
        bar.addWidget(self.label)
        window.addToolBar(Qt.BottomToolBarArea, bar)
        bar.setVisible(False)
        self.bar = bar
        self.prev_button.clicked.connect(lambda: self.controller.step(-1))
        self.next_button.clicked.connect(lambda: self.controller.step(+1))
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.sliderMoved.connect(self._preview_label)
        self.controller.project_opened.connect(self._on_project)
        self.controller.current_changed.connect(self._on_current)
        ctx.actions.handle(next_frame=lambda: self.controller.step(+1), prev_frame=lambda: self.controller.step(-1),
                           jump_to=self.jump)

    def is_video(self) -> bool:
        store = self.controller.store
        return store is not None and store.kind == "video"

    def _on_project(self, store) -> None:
        self.bar.setVisible(self.is_video())
        n = len(self.controller.files.ids())
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, n - 1))
        self.slider.blockSignals(False)

    def _on_current(self, rec) -> None:
        if rec is None or not self.is_video():
            return
        row = self.controller.current_row or 0
        self.slider.blockSignals(True)
        self.slider.setValue(row)
        self.slider.blockSignals(False)
        self.label.setText(self._text(rec))

    def _text(self, rec) -> str:
        n = len(self.controller.files.ids())
        ts = f" — {rec.timestamp:.2f} s" if rec.timestamp is not None else ""
        return f"frame {rec.frame_index} / {n - 1}{ts}"

    def _preview_label(self, row: int) -> None:
        rec = self.controller.files.record(self.controller.files.id_at(row) or -1)
        if rec is not None:
            self.label.setText(self._text(rec))

    def _on_slider(self, row: int) -> None:
        self.controller.go_to_row(row)

    def jump(self, number: int | None = None) -> bool:
        """Jump to a frame index (video) or a 1-based image number (folder)."""
        ids = self.controller.files.ids()
        if not ids:
            return False
        video = self.is_video()
        if number is None:
            hi = len(ids) - 1 if video else len(ids)
            number, ok = QInputDialog.getInt(self.ctx.window, "Jump to", "Frame index:" if video else "Image number:",
                                             (self.controller.current_row or 0) + (0 if video else 1),
                                             0 if video else 1, hi)
            if not ok:
                return False
        return self.controller.go_to_row(number if video else number - 1)


    def shutdown(self) -> None:
        pass


def install(ctx: AppContext) -> VideoNavigator:
    return VideoNavigator(ctx)
