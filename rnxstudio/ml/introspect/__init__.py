"""Model introspection: feature capture (hooks), heatmaps, Grad-CAM, architecture tables.

Qt-free; the inspector panel in :mod:`rnxstudio.ui.inspector` calls these on a worker thread.
"""
