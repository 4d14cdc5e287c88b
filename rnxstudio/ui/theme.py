"""The application's look: Fusion style, light/dark colours, the style sheet."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from rnxstudio.core.paths import resources_dir


def apply_theme(app: QApplication, theme: str | None = None) -> None:
    """Fusion style everywhere; colours follow the system (light/dark) unless the setting
    ``theme`` says "light" or "dark"."""
    app.setStyle("Fusion")
    if theme is None:
        from rnxstudio.ui.settings import app_settings

        theme = str(app_settings().value("theme", "system"))
    hints = app.styleHints()
    if hasattr(hints, "setColorScheme"):  # Qt >= 6.8
        scheme = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}.get(theme, Qt.ColorScheme.Unknown)
        hints.setColorScheme(scheme)
    qss = resources_dir() / "style" / "app.qss"
    if qss.is_file():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
