"""Where the app keeps its own files. Overridable with RNXSTUDIO_HOME (tests, portable installs)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "RNXSTUDIO_HOME"


def user_data_dir() -> Path:
    """Per-user data folder: projects, demo data, checkpoints. Created on demand by callers."""
    override = os.environ.get(ENV_HOME)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_path

    return Path(user_data_path("rnxstudio", appauthor=False))


def projects_dir() -> Path:
    return user_data_dir() / "projects"


def demo_dir() -> Path:
    return user_data_dir() / "demo"


def resources_dir() -> Path:
    """The top-level ``resources/`` folder (source checkout, editable install or PyInstaller bundle)."""
    import sys

    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"
