"""The Review queue dock: the images worth a person's time next (ranking in
:mod:`rnxstudio.ml.review`), click to go there; optionally the current image's TP/FP/FN drawn
on the canvas as coloured outlines (an overlay of our own items, the canvas is not changed).
While shown, the queue follows the project: new predictions or edits re-rank it (debounced)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from rnxstudio.ml.review import ReviewItem, review_item, review_queue
from rnxstudio.ui.context import AppContext

MATCH_COLORS = {"tp": "#2ecc40", "fp": "#ff4136", "fn": "#ff851b"}
OVERLAY_Z = 50.0


class ReviewOverlay:
    """Dashed outlines over the canvas's boxes: green = TP prediction, red = FP prediction,
    orange = a person's box the model missed (FN). Scene coordinates are image pixels."""

    def __init__(self, canvas):
        self.canvas = canvas
        self.items: list[tuple[str, QGraphicsRectItem]] = []

    def clear(self) -> None:
        scene = self.canvas.scene()
        for _kind, item in self.items:
            try:
                if item.scene() is scene:
                    scene.removeItem(item)
            except RuntimeError:  # already deleted with its scene
                pass
        self.items = []

    def show(self, boxes, item: ReviewItem | None) -> None:
        self.clear()
        if item is None or item.kind != "disagreement":
            return
        by_id = {b.id: b for b in boxes}
        m = item.match
        for kind, ids in (("tp", m.tp_ids), ("fp", m.fp_ids), ("fn", m.fn_ids)):
            pen = QPen(QColor(MATCH_COLORS[kind]), 0)
            pen.setCosmetic(True)
            pen.setWidthF(3.0)
            pen.setStyle(Qt.DashLine)
            for box_id in ids:
                b = by_id.get(box_id)
                if b is None:
                    continue
                rect = QGraphicsRectItem(b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1)
                rect.setPen(pen)
                rect.setZValue(OVERLAY_Z)
                rect.setAcceptedMouseButtons(Qt.NoButton)
                rect.setToolTip(kind.upper())
                self.canvas.scene().addItem(rect)
                self.items.append((kind, rect))

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in MATCH_COLORS}
        for kind, _ in self.items:
            out[kind] += 1
        return out


class ReviewDock(QDockWidget):
    def __init__(self, ctx: AppContext):
        super().__init__("Review queue", ctx.window)
        self.setObjectName("dock_review")
        self.ctx = ctx
        self.nav = ctx.nav
        body = QWidget(self)
        self.mode = QComboBox(body)
        self.mode.addItem("Disagreement (labelled: FP + FN)", "disagreement")
        self.mode.addItem("Uncertainty (unlabeled: scores near threshold)", "uncertainty")
        self.threshold = QDoubleSpinBox(body)
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(0.5)
        self.threshold.setToolTip("Score threshold: predictions below it are ignored for FP/FN")
        self.refresh_button = QPushButton("Refresh", body)
        self.show_matches = QCheckBox("Show TP / FP / FN on the canvas", body)
        self.show_matches.setToolTip("green: correct prediction, red: false positive, orange: missed box")
        self.summary = QLabel("", body)
        self.summary.setWordWrap(True)
        self.list = QListWidget(body)
        row = QHBoxLayout()
        row.addWidget(QLabel("Score ≥", body))
        row.addWidget(self.threshold)
        row.addWidget(self.refresh_button)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.mode)
        lay.addLayout(row)
        lay.addWidget(self.show_matches)
        lay.addWidget(self.summary)
        lay.addWidget(self.list, 1)
        self.setWidget(body)
        self.overlay = ReviewOverlay(ctx.canvas)
        self.items: list[ReviewItem] = []
        self._stale = QTimer(self, singleShot=True, interval=300)  # re-rank once a burst of changes ends
        self._stale.timeout.connect(lambda: self.rank() if self.isVisible() else None)
        self.refresh_button.clicked.connect(self.rank)
        self.mode.currentIndexChanged.connect(lambda _i: self.rank())
        self.list.currentRowChanged.connect(self._on_row)
        self.show_matches.toggled.connect(lambda _on: self.update_overlay())
        ctx.nav.image_ready.connect(lambda *_a: self.update_overlay())
        s = ctx.session
        s.opened.connect(lambda _s: self.rank() if self.isVisible() else None)
        s.predictions_changed.connect(lambda *_a: self._stale.start())
        s.boxes_changed.connect(lambda *_a: self._stale.start())
        ctx.add_dock(self, Qt.RightDockWidgetArea, visible=False)

    def rank(self) -> list[ReviewItem]:
        """Recompute the queue from the store."""
        store = self.nav.store
        self.list.blockSignals(True)
        self.list.clear()
        self.items = []
        if store is not None:
            mode = self.mode.currentData()
            self.items = review_queue(store, mode, score_thresh=self.threshold.value())
            names = {r.id: r for r in store.images([it.image_id for it in self.items])}
            for it in self.items:
                rec = names.get(it.image_id)
                name = getattr(rec, "display_name", None) or (Path(rec.path).name if rec else str(it.image_id))
                entry = QListWidgetItem(f"{name} — {it.describe()}")
                entry.setData(Qt.UserRole, it.image_id)
                self.list.addItem(entry)
            what = "labelled images that disagree with the model" if mode == "disagreement" else \
                "unlabeled images with uncertain predictions"
            self.summary.setText(f"{len(self.items)} {what}" if self.items else
                                 f"No {what}. Pre-label images (Model → Pre-label All…) to fill the queue.")
        self.list.blockSignals(False)
        self.update_overlay()
        return self.items

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.items):
            self.nav.set_current(self.items[row].image_id)

    def update_overlay(self) -> None:
        """Draw (or clear) the current image's TP/FP/FN outlines."""
        store = self.nav.store
        cur = self.nav.current
        if not self.show_matches.isChecked() or store is None or cur is None:
            self.overlay.clear()
            return
        boxes = store.boxes(cur.id, include_predictions=True)
        item = review_item(cur.id, store.image(cur.id).status, boxes, score_thresh=self.threshold.value())
        self.overlay.show(boxes, item)
