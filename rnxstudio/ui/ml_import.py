"""One lock around importing the ml stack from worker threads.

torch/torchvision take seconds to import and their modules import each other; two threads
importing them at once can fail with importlib's ``_DeadlockError``. Every GUI-side import of
``rnxstudio.ml.*`` from a background thread goes through :func:`import_ml`.
"""

from __future__ import annotations

import importlib
import threading

_lock = threading.Lock()


def import_ml(*modules: str) -> None:
    """Import ``modules`` (default: the inference stack) with the shared lock held."""
    with _lock:
        for name in modules or ("rnxstudio.ml.predict",):
            importlib.import_module(name)
