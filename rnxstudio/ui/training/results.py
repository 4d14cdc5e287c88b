"""A non-modal table of metrics side by side (before/after a run, or two backbones), with one
"Use for pre-labeling" button per new checkpoint."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


class ResultsDialog(QDialog):
    def __init__(self, parent: QWidget | None, *, title: str, intro: str, header: list[str], rows: list[list[str]],
                 checkpoints: dict[str, str], on_use: Callable[[str], None]):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WA_DeleteOnClose, False)
        self.intro = QLabel(intro, self)
        self.intro.setWordWrap(True)
        self.intro.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.table = QTableWidget(len(rows), len(header), self)
        self.table.setHorizontalHeaderLabels(header)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                if c > 0:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if header[c] == "change" and text.startswith(("+", "-")) and text not in ("+0.000", "-0.000"):
                    item.setForeground(QColor("#2a8a2a" if text.startswith("+") else "#c0392b"))
                self.table.setItem(r, c, item)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.use_buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for label, path in checkpoints.items():
            b = QPushButton(f"Use {label} for pre-labeling" if len(checkpoints) > 1 else "Use for pre-labeling", self)
            b.setToolTip(path)
            b.clicked.connect(lambda _c=False, p=path, btn=b: (on_use(p), btn.setEnabled(False)))
            row.addWidget(b)
            self.use_buttons[label] = b
        row.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.intro)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        lay.addWidget(buttons)
        self.resize(560, 420)

    def cell(self, row: int, col: int) -> str:
        item = self.table.item(row, col)
        return item.text() if item is not None else ""
