"""One lock around importing the ml stack from worker threads.

torch/torchvision take seconds to import and their modules import each other; two threads
importing them at once can fail with importlib's ``_DeadlockError``. Every GUI-side import of
``rnxstudio.ml.*`` off the GUI thread happens under :func:`ml_lock` (plain import statements
inside it, so the import linter sees them).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_lock = threading.RLock()  # re-entrant: a GUI-thread import under it may reach another


@contextlib.contextmanager
def ml_lock() -> Iterator[None]:
    with _lock:
        yield


def import_ml() -> None:
    """Import the inference stack (torch, torchvision, the zoo, the resolver) under the lock."""
    with ml_lock():
        import rnxstudio.ml.predict  # noqa: F401
        import rnxstudio.ml.resolve  # noqa: F401
