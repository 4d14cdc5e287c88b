"""InspectorPanel: per-stage heatmaps over the image, the stage strip, Grad-CAM, arch table.

The panel holds numpy results only; the heavy work (the forward with hooks, Grad-CAM, FLOP
counting) runs in :class:`~rnxstudio.ui.inspector.jobs.InspectorJobs`. What the panel does
on the GUI thread is cheap: reduce one captured map to 2-D (cached), resample it to the image,
colour and blend it, and wrap the result in a QImage.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from rnxstudio.ml.introspect import heatmap as hm
from rnxstudio.ui.inspector.archview import ArchTableView
from rnxstudio.ui.inspector.views import ImageView, StageStrip, rgb_to_qimage

MODE_LABELS = {"mean": "mean over channels", "max": "max |activation|", "l2": "L2 norm",
               "channel": "single channel", "topk": "top-k channels (grid)"}
GRADCAM_METHODS = {"gradcam": "Grad-CAM (mean-gradient weights)",
                   "hirescam": "element-wise (HiResCAM, box-specific)"}
TOPK_PAD = 1


def draw_box(rgb: np.ndarray, box: np.ndarray, color: tuple[int, int, int] = (255, 255, 255)) -> None:
    """Draw a 1-px rectangle outline (xyxy, pixels) into ``rgb`` in place, clipped."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, x2 = max(0, min(w - 1, x1)), max(0, min(w - 1, x2))
    y1, y2 = max(0, min(h - 1, y1)), max(0, min(h - 1, y2))
    rgb[y1, x1:x2 + 1] = color
    rgb[y2, x1:x2 + 1] = color
    rgb[y1:y2 + 1, x1] = color
    rgb[y1:y2 + 1, x2] = color


class InspectorPanel(QWidget):
    """Feed it with :meth:`set_inspection`; it emits :attr:`gradcam_requested` when a detection
    is clicked and shows the answer given to :meth:`show_gradcam`."""

    gradcam_requested = Signal(int, str)  # detection index, stage
    stage_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, model_names: list[str] | None = None) -> None:
        super().__init__(parent)
        self._rgb: np.ndarray | None = None
        self._result: Any = None
        self._cache: dict[tuple, np.ndarray] = {}
        self._gradcam: np.ndarray | None = None
        self._gradcam_info = ""
        self._topk_idx: np.ndarray | None = None
        self._topk_tile: tuple[int, int] = (0, 0)
        self._shown: np.ndarray | None = None
        self._pending: dict[int, np.ndarray] = {}
        self._worker: Any = None
        self._build(model_names)

    # ------------------------------------------------------------------ layout
    def _build(self, model_names: list[str] | None) -> None:
        self.stage_combo = QComboBox()
        self.mode_combo = QComboBox()
        for key, text in MODE_LABELS.items():
            self.mode_combo.addItem(text, key)
        self.channel_spin = QSpinBox()
        self.channel_spin.setPrefix("ch ")
        self.topk_spin = QSpinBox()
        self.topk_spin.setRange(1, 64)
        self.topk_spin.setValue(16)
        self.topk_spin.setPrefix("k ")
        self.cmap_combo = QComboBox()
        self.cmap_combo.addItems(["viridis", "turbo", "jet", "inferno", "gray"])
        self.view_combo = QComboBox()
        self.view_combo.addItem("overlay", "overlay")
        self.view_combo.addItem("side by side", "side")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity.setMaximumWidth(120)
        self.opacity.setToolTip("heatmap opacity")
        bar = QHBoxLayout()
        for w in (QLabel("stage"), self.stage_combo, self.mode_combo, self.channel_spin, self.topk_spin,
                  self.cmap_combo, self.view_combo, QLabel("opacity"), self.opacity):
            bar.addWidget(w)
        bar.addStretch(1)

        self.view = ImageView()
        self.strip = StageStrip()
        self.hover_label = QLabel(" ")
        self.hover_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.det_list = QListWidget()
        self.det_list.setMaximumWidth(220)
        self.method_combo = QComboBox()
        for key, text in GRADCAM_METHODS.items():
            self.method_combo.addItem(text, key)
        side = QVBoxLayout()
        side.addWidget(QLabel("Detections (click: Grad-CAM)"))
        side.addWidget(self.det_list, 1)
        side.addWidget(self.method_combo)
        side_w = QWidget()
        side_w.setLayout(side)
        split = QSplitter()
        split.addWidget(self.view)
        split.addWidget(side_w)
        split.setStretchFactor(0, 1)

        maps = QWidget()
        ml = QVBoxLayout(maps)
        ml.setContentsMargins(2, 2, 2, 2)
        ml.addLayout(bar)
        ml.addWidget(split, 1)
        ml.addWidget(self.strip)
        ml.addWidget(self.hover_label)

        self.arch_view = ArchTableView(model_names)
        self.tabs = QTabWidget()
        self.tabs.addTab(maps, "Feature maps")
        self.tabs.addTab(self.arch_view, "Architecture")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tabs)

        self.stage_combo.currentTextChanged.connect(self._on_stage)
        self.mode_combo.currentIndexChanged.connect(self._on_settings)
        self.channel_spin.valueChanged.connect(self._on_settings)
        self.topk_spin.valueChanged.connect(self._on_settings)
        self.cmap_combo.currentIndexChanged.connect(self._render_keep_gradcam)
        self.view_combo.currentIndexChanged.connect(self._render_keep_gradcam)
        self.opacity.valueChanged.connect(self._render_keep_gradcam)
        self.strip.stage_clicked.connect(self.set_stage)
        self.det_list.itemClicked.connect(self._on_detection)
        self.view.hovered.connect(self._on_hover)
        self.view.left.connect(lambda: self.hover_label.setText(" "))
        self._sync_enabled()

    # ------------------------------------------------------------------ public API
    @property
    def stage(self) -> str:
        return self.stage_combo.currentText()

    @property
    def mode(self) -> str:
        return self.mode_combo.currentData()

    @property
    def gradcam_method(self) -> str:
        return self.method_combo.currentData()

    def stages(self) -> list[str]:
        return [self.stage_combo.itemText(i) for i in range(self.stage_combo.count())]

    def set_stage(self, stage: str) -> None:
        if stage in self.stages():
            self.stage_combo.setCurrentText(stage)

    def set_mode(self, mode: str, channel: int | None = None) -> None:
        if channel is not None:
            self.channel_spin.setValue(int(channel))
        self.mode_combo.setCurrentIndex(list(MODE_LABELS).index(mode))

    def set_colormap(self, name: str) -> None:
        self.cmap_combo.setCurrentText(name)

    def set_opacity(self, percent: int) -> None:
        self.opacity.setValue(int(percent))

    def set_view(self, view: str) -> None:
        self.view_combo.setCurrentIndex(0 if view == "overlay" else 1)

    def shown_image(self) -> np.ndarray | None:
        """The RGB image currently displayed (overlay, side by side or top-k grid)."""
        return self._shown

    def set_inspection(self, rgb: np.ndarray, result: Any) -> None:
        """Show a new :class:`InspectionResult` for ``rgb`` (the same upright image)."""
        if tuple(rgb.shape[:2]) != tuple(result.original_size):
            raise ValueError(f"image {rgb.shape[:2]} does not match the inspection's {result.original_size}")
        self._rgb, self._result = rgb, result
        self._cache.clear()
        self._gradcam = None
        keep = self.stage
        self.stage_combo.blockSignals(True)
        self.stage_combo.clear()
        self.stage_combo.addItems(list(result.features))
        self.stage_combo.setCurrentText(keep if keep in result.features else self._default_stage())
        self.stage_combo.blockSignals(False)
        self._fill_detections()
        self._fill_strip()
        self.arch_view.set_input_size(result.original_size)
        self._on_stage(self.stage)

    def show_gradcam(self, heat: Any) -> None:
        """Show a Grad-CAM map: a GradCamResult or an (H, W) [0, 1] array of the image size."""
        arr = np.asarray(getattr(heat, "heat", heat), dtype=np.float32)
        if self._rgb is None or arr.shape != self._rgb.shape[:2]:
            raise ValueError(f"Grad-CAM map {arr.shape} does not match the image")
        info = ""
        if hasattr(heat, "stage"):
            info = f"Grad-CAM {heat.stage} label {heat.label} ({heat.target} {heat.target_value:.3g})"
            if not heat.reached:
                info += f" — {heat.stage} does not feed this box's RoI features: map is empty"
        self._gradcam, self._gradcam_info = arr, info
        self._render()
        self.hover_label.setText(info or "Grad-CAM")

    def clear(self) -> None:
        self._rgb = self._result = self._gradcam = self._shown = None
        self._cache.clear()
        self.stage_combo.clear()
        self.det_list.clear()
        self.strip.clear()
        self.view.set_image(rgb_to_qimage(np.zeros((1, 1, 3), np.uint8)))

    # ------------------------------------------------------------------ worker wiring
    def attach_worker(self, worker: Any) -> None:
        """Connect to an :class:`InspectorJobs`: Grad-CAM clicks, arch-table requests and
        their answers. Use :meth:`inspect` to request an inspection of an image."""
        self._worker = worker
        worker.inspected.connect(self._on_inspected)
        worker.gradcam_ready.connect(lambda _rid, res: self.show_gradcam(res) if self._rgb is not None else None)
        worker.arch_ready.connect(lambda _rid, res: self.arch_view.set_result(res))
        worker.failed.connect(self._on_failed)
        self.gradcam_requested.connect(self._request_gradcam)
        self.arch_view.table_requested.connect(lambda m, c, hw, t: worker.arch(m, hw, c, t))

    def inspect(self, rgb: np.ndarray) -> int:
        """Ask the attached worker to inspect ``rgb``; the answer lands in :meth:`set_inspection`."""
        if self._worker is None:
            raise RuntimeError("no InspectorJobs attached")
        rid = self._worker.inspect(rgb)
        self._pending = {rid: rgb}
        return rid

    def _on_inspected(self, rid: int, result: Any) -> None:
        rgb = self._pending.pop(rid, None)
        if rgb is not None:
            self.set_inspection(rgb, result)

    def _on_failed(self, kind: str, message: str) -> None:
        if kind == "arch":
            self.arch_view.show_error(message)
        else:
            self.hover_label.setText(message)

    def _request_gradcam(self, index: int, stage: str) -> None:
        det = self._result.detections
        self.hover_label.setText(f"computing Grad-CAM of detection #{index} at {stage}…")
        self._worker.gradcam(self._rgb, det.boxes[index], int(det.labels[index]), stage, method=self.gradcam_method)

    # ------------------------------------------------------------------ internals
    def _default_stage(self) -> str:
        names = list(self._result.features)
        return "res4" if "res4" in names else names[0]

    def _fill_detections(self) -> None:
        self.det_list.clear()
        det = self._result.detections
        names = det.class_names
        for i in range(len(det)):
            lab = int(det.labels[i])
            cname = names[lab - 1] if 0 < lab <= len(names) else f"label {lab}"
            x1, y1, x2, y2 = (float(v) for v in det.boxes[i])
            item = QListWidgetItem(f"#{i} {cname} {float(det.scores[i]):.2f}")
            item.setToolTip(f"box ({x1:.0f}, {y1:.0f}) – ({x2:.0f}, {y2:.0f})")
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.det_list.addItem(item)

    def _fill_strip(self) -> None:
        thumbs = []
        for name, fm in self._result.features.items():
            heat = hm.normalize(hm.reduce_max_abs(fm.data) if fm.kind == "rpn" else hm.reduce_mean(fm.data))
            c, h, w = fm.shape
            thumbs.append((name, f"{name}\n{h}x{w} /{int(fm.stride[0])}", hm.colorize(heat, self.cmap_combo.currentText())))
        self.strip.set_thumbnails(thumbs)

    def _sync_enabled(self) -> None:
        self.channel_spin.setEnabled(self.mode == "channel")
        self.topk_spin.setEnabled(self.mode == "topk")
        overlay_ok = self.mode != "topk" or self._gradcam is not None
        self.view_combo.setEnabled(overlay_ok)
        self.opacity.setEnabled(overlay_ok)

    def _on_stage(self, stage: str) -> None:
        if self._result is None or stage not in self._result.features:
            return
        self.channel_spin.setRange(0, self._result.features[stage].shape[0] - 1)
        self.strip.select_stage(stage)
        self.stage_changed.emit(stage)
        self._on_settings()

    def _on_settings(self, *_: object) -> None:
        self._gradcam = None
        self._render()

    def _render_keep_gradcam(self, *_: object) -> None:
        self._render()

    def _heat2d(self, fm: Any) -> np.ndarray:
        key = (fm.name, self.mode, self.channel_spin.value())
        if key not in self._cache:
            self._cache[key] = hm.normalize(hm.reduce(fm.data, self.mode, channel=self.channel_spin.value()))
        return self._cache[key]

    def _render(self) -> None:
        self._sync_enabled()
        if self._result is None or self._rgb is None or self.stage not in self._result.features:
            return
        fm = self._result.features[self.stage]
        cmap = self.cmap_combo.currentText()
        self._topk_idx = None
        if self._gradcam is not None:
            heat = self._gradcam
        elif self.mode == "topk":
            grid, idx = hm.topk_grid(fm.data, self.topk_spin.value(), pad=TOPK_PAD)
            self._topk_idx, self._topk_tile = idx, fm.shape[1:]
            self._show(hm.colorize(grid, cmap))
            return
        else:
            heat = np.clip(hm.to_image(self._heat2d(fm), fm.stride, self._result.scale,
                                       self._result.original_size), 0.0, 1.0)
        if self.view_combo.currentData() == "side":
            out = np.concatenate([self._rgb, hm.colorize(heat, cmap)], axis=1)
        else:
            out = hm.overlay(self._rgb, heat, self.opacity.value() / 100.0, cmap)
        box = self._selected_box()
        if box is not None:
            draw_box(out, box)
            if out.shape[1] > self._rgb.shape[1]:
                draw_box(out, box + np.array([self._rgb.shape[1], 0, self._rgb.shape[1], 0]))
        self._show(out, heat)

    def _selected_box(self) -> np.ndarray | None:
        item = self.det_list.currentItem()
        if item is None or self._result is None:
            return None
        i = int(item.data(Qt.ItemDataRole.UserRole))
        det = self._result.detections
        return np.asarray(det.boxes[i], dtype=np.float64) if i < len(det) else None

    def _show(self, rgb: np.ndarray, heat: np.ndarray | None = None) -> None:
        self._shown = rgb
        self._shown_heat = heat
        self.view.set_image(rgb_to_qimage(rgb))

    def hover_text(self, x: float, y: float) -> str:
        """What the status line says for displayed-image pixel (x, y) (also used by tests)."""
        if self._result is None or self._rgb is None:
            return ""
        fm = self._result.features[self.stage]
        c_all, h, w = fm.shape
        if self._topk_idx is not None:
            th, tw = self._topk_tile
            _rows, cols = hm.grid_shape(len(self._topk_idx))
            ti, tj = int(y) // (th + TOPK_PAD), int(x) // (tw + TOPK_PAD)
            r, c = int(y) % (th + TOPK_PAD), int(x) % (tw + TOPK_PAD)
            k = ti * cols + tj
            if r >= th or c >= tw or k >= len(self._topk_idx):
                return f"{self.stage} · top-{len(self._topk_idx)} grid"
            ch = int(self._topk_idx[k])
            return f"{self.stage} · channel {ch} (rank {k + 1}) · cell ({r}, {c}) · activation {fm.data[ch, r, c]:.4g}"
        W = self._rgb.shape[1]
        ix, iy = float(x) % W, float(y)
        if self._gradcam is not None:
            v = self._gradcam[min(int(iy), self._gradcam.shape[0] - 1), min(int(ix), W - 1)]
            return f"{self._gradcam_info or 'Grad-CAM'} · ({ix:.0f}, {iy:.0f}) · {v:.3f}"
        cell = hm.feature_cell(ix, iy, fm.stride, self._result.scale, (h, w))
        if cell is None:
            return f"{self.stage} · ({ix:.0f}, {iy:.0f}) outside the map"
        r, c = cell
        vec = fm.data[:, r, c]
        mode = self.mode
        if mode == "channel":
            ch = self.channel_spin.value()
            what = f"channel {ch} · activation {vec[ch]:.4g}"
        elif mode == "max":
            ch = int(np.argmax(np.abs(vec)))
            what = f"max |activation| {abs(vec[ch]):.4g} at channel {ch}"
        elif mode == "l2":
            what = f"L2 {float(np.sqrt((vec * vec).sum())):.4g} over {c_all} channels"
        else:
            what = f"mean {float(vec.mean()):.4g} over {c_all} channels"
        return f"{self.stage} · cell ({r}, {c}) of {h}x{w} · {what} · image ({ix:.0f}, {iy:.0f})"

    def _on_hover(self, x: float, y: float) -> None:
        self.hover_label.setText(self.hover_text(x, y))

    def _on_detection(self, item: QListWidgetItem) -> None:
        idx = int(item.data(Qt.ItemDataRole.UserRole))
        stage = self.stage if not self.stage.startswith("rpn") else "res4"
        self.gradcam_requested.emit(idx, stage)
