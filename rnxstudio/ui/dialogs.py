"""Small dialogs: keyboard shortcuts (generated from the action table) and About."""

from __future__ import annotations

import platform

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rnxstudio import __version__
from rnxstudio.ui.actions import shortcut_rows


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, visible_ids: set[str] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(visible_ids)
        table = QTableWidget(len(rows), 3, self)
        table.setHorizontalHeaderLabels(["Menu", "Action", "Shortcut"])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                table.setItem(r, c, QTableWidgetItem(text))
        table.setEditTriggers(QTableWidget.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setSortingEnabled(True)
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(table)
        lay.addWidget(buttons)
        self.resize(560, 600)


def show_shortcuts(window) -> ShortcutsDialog:
    visible = {k for k, a in window.actions_by_id.items() if a.isVisible()}
    dlg = ShortcutsDialog(window, visible)
    dlg.open()
    return dlg


def show_about(window) -> None:
    from rnxstudio.ui.device import detect_device_label

    QMessageBox.about(
        window,
        "About rnxstudio",
        f"<b>rnxstudio {__version__}</b><br>Label, inspect and fine-tune a ResNeXt Faster R-CNN."
        f"<br><br>Python {platform.python_version()} · device: {detect_device_label()}",
    )
