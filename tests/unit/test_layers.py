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
    import shutil

    exe = shutil.which("lint-imports")
    if exe is None:
        import pytest

        pytest.skip("import-linter is not installed")
    res = subprocess.run([exe], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-2000:]
