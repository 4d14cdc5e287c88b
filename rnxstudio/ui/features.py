"""Feature controllers plugged into the main window. Each module has ``install(window)``,
which creates its controller/docks, registers action handlers in ``window.handlers`` and
appends clean-up callables to ``window.shutdown_hooks``. Keeping them apart keeps MainWindow
thin and lets a newcomer find "where does pre-labeling live" by file name.
"""

from __future__ import annotations

import importlib

FEATURES: tuple[str, ...] = (
    "rnxstudio.ui.editing",
    "rnxstudio.ui.export_actions",
    "rnxstudio.ui.prelabel",
    "rnxstudio.ui.training",
    "rnxstudio.ui.video_nav",
    "rnxstudio.ui.inspector_feature",
)


def install_features(window) -> None:
    window.shutdown_hooks = []
    for name in FEATURES:
        importlib.import_module(name).install(window)
