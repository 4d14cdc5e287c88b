"""The one cancel check: long loops (inference, evaluation, estimates, prefetching) accept a
``threading.Event``, a zero-argument callable or None and ask :func:`is_cancelled` between items."""

from __future__ import annotations

import threading
from collections.abc import Callable

Cancel = threading.Event | Callable[[], bool] | None


def is_cancelled(cancel: Cancel) -> bool:
    """True once ``cancel`` is set (an Event) or returns true (a callable); never for None."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())
