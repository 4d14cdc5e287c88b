"""Test-wide set-up: offscreen Qt, a private RNXSTUDIO_HOME, paths to the shared corpus."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("RNXSTUDIO_NO_DOWNLOAD", "1")  # tests never download weights
# QSettings (recent folders, theme, geometry) must never touch the real user's config
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="rnx-test-config-")

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = REPO_ROOT.parent / "shared" / "corpus"


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory, monkeypatch):
    """Every test gets its own user data dir, so nothing touches the real one."""
    home = tmp_path_factory.mktemp("rnxhome")
    monkeypatch.setenv("RNXSTUDIO_HOME", str(home))
    return home


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared image corpus not found at {CORPUS}")
    return CORPUS
