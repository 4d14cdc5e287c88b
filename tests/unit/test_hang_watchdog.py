"""The suite's hang watchdog (tests/conftest.py): a test stuck past RNX_TEST_HANG_S ends the run
with every thread's stack on stderr, instead of holding CI silently until its own limit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, body: str, hang_s: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_probe.py").write_text(body)
    env = dict(os.environ, RNX_TEST_HANG_S=hang_s, PYTHONPATH=str(TESTS))
    # the suite's conftest, loaded as a plugin into a run of one probe file
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:pytest-qt", str(tmp_path / "test_probe.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_stuck_test_ends_the_run_with_its_stack(tmp_path):
    proc = _run(tmp_path, "import threading\n\ndef test_waits_forever():\n    threading.Event().wait()\n", "2")
    assert proc.returncode != 0
    assert "Timeout" in proc.stderr and "test_waits_forever" in proc.stderr, proc.stderr[-2000:]


def test_the_limit_is_per_test(tmp_path):
    """Three tests of 1.2 s each under a 2.5 s limit: the run (3.6 s) passes."""
    body = "import time\n" + "".join(f"\ndef test_{i}():\n    time.sleep(1.2)\n" for i in range(3))
    proc = _run(tmp_path, body, "2.5")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout
