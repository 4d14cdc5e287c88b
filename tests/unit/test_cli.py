import subprocess
import sys
import time

import pytest

from rnxstudio import __version__
from rnxstudio.cli import SUBCOMMANDS, main


def test_help_is_fast_and_imports_nothing_heavy():
    code = (
        "import sys, time; t=time.perf_counter();"
        "from rnxstudio.cli import _build_parser; _build_parser().format_help();"
        "heavy=[m for m in ('torch','PySide6','cv2','torchvision') if m in sys.modules];"
        "print(heavy, time.perf_counter()-t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, _secs = out.stdout.rsplit("]", 1)
    assert heavy.strip() == "[", f"heavy modules imported by --help: {heavy}]"


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in text


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out


def test_gui_with_missing_path_fails_cleanly(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["gui", str(missing)]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_console_script_help_under_a_second():
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rnxstudio", "--help"], capture_output=True, check=True)
    # generous bound for a loaded 2-core CI machine; the point is "no torch/Qt import"
    assert time.perf_counter() - t < 5.0
