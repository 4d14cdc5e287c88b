"""The Training dock: live loss curves per torchvision loss term, learning rate, val mAP per
epoch, images/s, ETA, a progress bar, Cancel and Resume. It only shows what it is given
(:meth:`TrainingPanel.add` takes the trainer's Progress records); the controller decides.

The plots (pyqtgraph, about two seconds to import on a busy CPU) are built the first time the
dock is shown or given data, so the window starts without them."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

CURVE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
MAX_LOG_LINES = 500


def fmt_seconds(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class TrainingPanel(QDockWidget):
    run_selected = Signal(object)  # run id (int) or None

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Training", parent)
        self.setObjectName("dock_training")
        body = QWidget(self)
        self._body = body
        self.loss_plot = self.lr_plot = self.map_plot = None  # built by ensure_plots()
        self.title = QLabel("No run yet. Model → Fine-tune… starts one.", body)
        self.title.setWordWrap(True)
        self.stats = QLabel("", body)
        self.progress = QProgressBar(body)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.cancel_button = QPushButton("Cancel", body)
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop at the next step; a resumable checkpoint is written")
        self.resume_button = QPushButton("Resume", body)
        self.resume_button.setEnabled(False)
        self.resume_button.setToolTip("Continue the cancelled run from its last checkpoint")
        self.results_button = QPushButton("Results…", body)
        self.results_button.setEnabled(False)
        self.log = QPlainTextEdit(body)
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(MAX_LOG_LINES)
        self.log.setMaximumHeight(110)
        self.runs = QTreeWidget(body)  # the project's runs (from the store: they outlive the app)
        self.runs.setRootIsDecorated(False)
        self.runs.setMaximumHeight(110)
        self.runs.setToolTip("This project's fine-tuning runs; select a cancelled or interrupted run to resume it")
        self.runs.currentItemChanged.connect(lambda cur, _prev: self.run_selected.emit(self.selected_run_id()))

        buttons = QHBoxLayout()
        for b in (self.cancel_button, self.resume_button, self.results_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        plots = QGridLayout()
        plots.setColumnStretch(0, 2)
        plots.setColumnStretch(1, 1)
        plots.setColumnStretch(2, 1)
        self._plots_layout = plots
        lay = QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.title)
        lay.addLayout(plots, 1)
        lay.addWidget(self.progress)
        lay.addWidget(self.stats)
        lay.addLayout(buttons)
        lay.addWidget(self.runs)
        lay.addWidget(self.log)
        self.setWidget(body)
        self.clear()

    def ensure_plots(self) -> None:
        """Build the three plots (imports pyqtgraph) once."""
        if self.loss_plot is not None:
            return
        import pyqtgraph as pg

        self._pg = pg
        pg.setConfigOptions(antialias=True)
        body = self._body
        self.loss_plot = pg.PlotWidget(body, title="loss")
        self.loss_plot.addLegend(offset=(-5, 5))
        self.loss_plot.setLabel("bottom", "step")
        self.lr_plot = pg.PlotWidget(body, title="learning rate")
        self.lr_plot.setLabel("bottom", "step")
        self.map_plot = pg.PlotWidget(body, title="val AP / AP50")
        self.map_plot.setLabel("bottom", "epoch")
        self.map_plot.setYRange(0.0, 1.0)
        self.map_plot.addLegend(offset=(-5, 5))
        for col, p in enumerate((self.loss_plot, self.lr_plot, self.map_plot)):
            p.setMinimumHeight(160)
            p.showGrid(x=True, y=True, alpha=0.2)
            self._plots_layout.addWidget(p, 0, col)
        self._redraw()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.ensure_plots()
        super().showEvent(event)

    # ------------------------------------------------------------------ data
    def clear(self, title: str | None = None) -> None:
        """Forget the curves (a new run starts)."""
        self.steps: list[int] = []
        self.losses: dict[str, list[float]] = {}
        self.lrs: list[float] = []
        self.epochs: list[int] = []
        self.maps: list[float] = []
        self.ap50s: list[float] = []
        self._step_of_loss: dict[str, list[int]] = {}
        self._loss_curves: dict[str, Any] = {}
        self._redraw()
        self.progress.setValue(0)
        self.stats.setText("")
        if title is not None:
            self.title.setText(title)

    def add(self, p) -> None:
        """Show one :class:`~rnxstudio.ml.train_config.Progress` record."""
        if p.message:
            self.append_log(p.message if p.kind != "step" else f"step {p.step}: {p.message}")
        if p.kind == "done":  # a run that ended (time budget, epochs) ends at 100 %
            self.progress.setRange(0, max(1, int(p.step)))
            self.progress.setValue(self.progress.maximum())
        elif p.total_steps:
            self.progress.setRange(0, int(p.total_steps))
            self.progress.setValue(min(int(p.step), int(p.total_steps)))
        if p.kind == "step" and p.losses:
            self.steps.append(int(p.step))
            self.lrs.append(float(p.lr))
            terms = dict(p.losses)
            terms["total"] = float(sum(p.losses.values()))
            for k, v in terms.items():
                self.losses.setdefault(k, []).append(float(v))
                self._step_of_loss.setdefault(k, []).append(int(p.step))
            self._update_curves()
            total = f"/{p.total_steps}" if p.total_steps else ""
            self.stats.setText(f"step {p.step}{total} · epoch {p.epoch + 1} · loss {terms['total']:.3f} · "
                               f"lr {p.lr:.3g} · {p.images_per_s:.2f} images/s · ETA {fmt_seconds(p.eta_s)}")
        if p.eval is not None:
            self.epochs.append(int(p.epoch))
            self.maps.append(float(p.eval.map))
            self.ap50s.append(float(p.eval.metrics.get("AP50") or 0.0))
            self._update_curves()

    def _redraw(self) -> None:
        """(Re)create the curves from the stored data (after clear() or when plots are built)."""
        if self.loss_plot is None:
            return
        pg = self._pg
        self.loss_plot.clear()
        self.lr_plot.clear()
        self.map_plot.clear()
        self._loss_curves = {}
        self._lr_curve = self.lr_plot.plot(pen=pg.mkPen("#888", width=2))
        self._map_curve = self.map_plot.plot(pen=pg.mkPen("#d62728", width=2), symbol="o", symbolSize=6, name="AP")
        self._ap50_curve = self.map_plot.plot(pen=pg.mkPen("#2ca02c", width=2), symbol="t", symbolSize=6,
                                              name="AP50")
        self._update_curves()

    def _update_curves(self) -> None:
        if self.loss_plot is None:
            return
        pg = self._pg
        for k in self.losses:
            curve = self._loss_curves.get(k)
            if curve is None:
                color = "#e8e8e8" if k == "total" else CURVE_COLORS[len(self._loss_curves) % len(CURVE_COLORS)]
                curve = self._loss_curves[k] = self.loss_plot.plot(
                    pen=pg.mkPen(color, width=2 if k == "total" else 1), name=k.replace("loss_", ""))
            curve.setData(self._step_of_loss[k], self.losses[k])
        self._lr_curve.setData(self.steps, self.lrs)
        self._map_curve.setData(self.epochs, self.maps)
        self._ap50_curve.setData(self.epochs, self.ap50s)

    def append_log(self, text: str) -> None:
        self.log.appendPlainText(text)

    def set_runs(self, header: tuple[str, ...], rows: list[tuple[str, ...]], select: int | None) -> None:
        """Show the project's runs (``rows[i][0]`` is the run id) and select run ``select``."""
        self.runs.blockSignals(True)
        self.runs.clear()
        self.runs.setHeaderLabels(list(header))
        for r in rows:
            item = QTreeWidgetItem(list(r))
            self.runs.addTopLevelItem(item)
            if select is not None and r[0] == str(select):
                self.runs.setCurrentItem(item)
        for col in range(len(header)):
            self.runs.resizeColumnToContents(col)
        self.runs.blockSignals(False)
        if rows and self.title.text().startswith("No run yet"):
            self.title.setText(f"{len(rows)} run{'s' if len(rows) != 1 else ''} in this project: select a "
                               "cancelled or interrupted one to resume it. Model → Fine-tune… starts a new one.")

    def selected_run_id(self) -> int | None:
        item = self.runs.currentItem()
        return int(item.text(0)) if item is not None else None

    def set_state(self, *, running: bool, resumable: bool, has_results: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.resume_button.setEnabled(resumable and not running)
        self.results_button.setEnabled(has_results and not running)
