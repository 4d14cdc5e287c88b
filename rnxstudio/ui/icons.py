"""qtawesome icons with a safe fallback (an unknown name gives an empty icon, never a crash)."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtGui import QIcon


@lru_cache(maxsize=256)
def icon(name: str, color: str | None = None) -> QIcon:
    if not name:
        return QIcon()
    try:
        import qtawesome as qta

        return qta.icon(name, color=color) if color else qta.icon(name)
    except Exception:  # noqa: BLE001 - a missing glyph must not break the window
        return QIcon()
