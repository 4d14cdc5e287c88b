"""The app's settings (recent folders, window state, theme, the chosen model), one set per
user data folder.

``QSettings()`` with the organisation/application names is ONE file per OS user: two data
folders (``RNXSTUDIO_HOME``: a portable install, a second profile, tests) would share recent
folders, window layout and model choice, and a model remembered in one would be loaded in the
other. With ``RNXSTUDIO_HOME`` set, the settings are an INI file inside it; without it, the
platform's usual place.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

from rnxstudio.core.paths import ENV_HOME, user_data_dir

SETTINGS_FILE = "settings.ini"


def app_settings() -> QSettings:
    """The settings of the current user data folder (see the module doc)."""
    if os.environ.get(ENV_HOME):
        home = user_data_dir()
        home.mkdir(parents=True, exist_ok=True)
        return QSettings(str(home / SETTINGS_FILE), QSettings.IniFormat)
    return QSettings()
