"""GUI entry to the demo project (the work itself is Qt-free, in data.demo_project)."""

from __future__ import annotations

from pathlib import Path


def prepare_demo() -> Path:
    from rnxstudio.data.demo_project import prepare_demo_project

    return prepare_demo_project()
