"""Model inspector UI: :class:`InspectorPanel` (heatmaps, stage strip, Grad-CAM, arch table)
and :class:`InspectorWorker` (the jobs, off the GUI thread)."""

from rnxstudio.ui.inspector.archview import ArchTableView
from rnxstudio.ui.inspector.panel import InspectorPanel
from rnxstudio.ui.inspector.worker import InspectorWorker

__all__ = ["ArchTableView", "InspectorPanel", "InspectorWorker"]
