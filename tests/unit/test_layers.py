"""The layer rules hold at run time too: importing core/data never pulls in Qt or torch."""

import subprocess
import sys


def _imported_after(stmt: str) -> set[str]:
    code = f"import sys; {stmt}; print(','.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.strip().split(","))


def test_core_and_data_import_no_qt_or_torch():
    mods = _imported_after(
        "import rnxstudio.core.model, rnxstudio.core.paths, rnxstudio.data.images, "
        "rnxstudio.data.demo, rnxstudio.data.atomic"
    )
    assert not mods & {"PySide6", "shiboken6", "torch", "torchvision", "qtawesome", "pyqtgraph"}


def test_lint_imports_contracts_hold():
    """Layers, Qt only in the ui wing (its two named doors), no torch in core/data, no import cycles."""
    import shutil
    from pathlib import Path

    # next to this interpreter first: a venv's scripts are not always on PATH
    beside = Path(sys.executable).with_name("lint-imports")
    exe = str(beside) if beside.is_file() else shutil.which("lint-imports")
    assert exe is not None, "import-linter is a test dependency (pip install -e .[test])"
    res = subprocess.run([exe], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 0, res.stdout[-3000:]
    assert "No import cycles KEPT" in res.stdout and "Qt only in rnxstudio.ui KEPT" in res.stdout
