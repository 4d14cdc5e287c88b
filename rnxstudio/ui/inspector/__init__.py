"""Model inspector UI: :class:`InspectorPanel` (heatmaps, stage strip, Grad-CAM, arch table)
and :class:`InspectorJobs` (its jobs, on the model lane of the job engine)."""

from rnxstudio.ui.inspector.archview import ArchTableView
from rnxstudio.ui.inspector.panel import InspectorPanel
from rnxstudio.ui.inspector.jobs import InspectorJobs

__all__ = ["ArchTableView", "InspectorPanel", "InspectorJobs"]
