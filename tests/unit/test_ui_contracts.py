"""The rules of the ui wing that the import linter cannot see, checked on the source (no Qt needed):

* the session is the only writer: no module of rnxstudio/ui calls a store method that writes, or a
  data-layer function that writes a project, except through the session;
* features never set attributes on the window or look each other up (``getattr(self.w, ...)``);
* no import by name string reaches the ui wing (or anything else) from outside it;
* every module outside rnxstudio.ui imports without Qt (run with Qt blocked).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import rnxstudio

PKG = Path(rnxstudio.__file__).parent
UI = PKG / "ui"
HEADLESS = Path(__file__).resolve().parents[1] / "headless"

STORE_WRITES = {
    "add_category", "update_category", "delete_category", "restore_category", "set_box_category", "add_images",
    "set_image_size", "set_image_error", "set_missing", "set_status", "add_box", "add_boxes", "update_box",
    "delete_box", "set_predictions", "import_labelset", "add_model", "update_model", "add_training_run",
    "update_training_run",
    "set_meta", "set_root", "transaction", "_q", "_insert_box", "_mark_in_progress", "close",
}
WRITING_FUNCTIONS = {"fill_image_sizes", "export_labels", "import_labels", "write_snapshot", "write_frames",
                     "sync_folder"}


def _sources(root: Path):
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _names_store(node: ast.AST) -> bool:
    """``store``, ``x.store`` or ``self.store``-like expressions."""
    return (isinstance(node, ast.Name) and node.id in ("store", "s")) or \
        (isinstance(node, ast.Attribute) and node.attr in ("store", "_store"))


def test_no_store_write_in_the_ui_wing_outside_the_session():
    found = []
    for path, tree in _sources(UI):
        if path.name == "session_qt.py":  # the session adapter: it may open and close sessions
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr in STORE_WRITES and _names_store(f.value):
                found.append(f"{path.relative_to(PKG)}:{node.lineno} store.{f.attr}(...)")
            if isinstance(f, ast.Name) and f.id in WRITING_FUNCTIONS:
                found.append(f"{path.relative_to(PKG)}:{node.lineno} {f.id}(...)")
    assert not found, "store writes outside the session:\n" + "\n".join(found)


def test_features_neither_set_nor_look_up_window_attributes():
    found = []
    for path, tree in _sources(UI):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr",
                                                                                                   "setattr"):
                target = ast.unparse(node.args[0]) if node.args else ""
                if target in ("self.w", "window", "self.window", "ctx.window", "self.ctx.window", "w"):
                    found.append(f"{path.relative_to(PKG)}:{node.lineno} {ast.unparse(node)}")
            if path.name != "main_window.py" and isinstance(node, (ast.Assign, ast.AnnAssign)):
                for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(t, ast.Attribute) and ast.unparse(t.value) in ("window", "self.w", "ctx.window",
                                                                                  "self.ctx.window"):
                        found.append(f"{path.relative_to(PKG)}:{node.lineno} {ast.unparse(t)} = ...")
            if isinstance(node, ast.Attribute) and node.attr == "w" and ast.unparse(node.value) == "self":
                found.append(f"{path.relative_to(PKG)}:{node.lineno} self.w")
    assert not found, "\n".join(found)


def test_no_import_by_name_string():
    """import_module / __import__ of an rnxstudio module hides an edge from the import linter: a
    call whose argument names rnxstudio, or that takes a variable in a module holding rnxstudio
    module names as strings (how the feature list, the benchmark registry and the CLI used to
    load modules). Importing external modules by name (torchvision weight enums, openvino's
    telemetry patches) is not the linter's business."""
    module_name = re.compile(r"^rnxstudio(\.[a-z_]+)*$")
    found = []
    for path, tree in _sources(PKG):
        run_as_main = {id(e) for n in ast.walk(tree) if isinstance(n, (ast.List, ast.Tuple))
                       and any(isinstance(e, ast.Constant) and e.value == "-m" for e in n.elts) for e in n.elts}
        names_modules = any(isinstance(n, ast.Constant) and isinstance(n.value, str) and module_name.match(n.value)
                            and id(n) not in run_as_main for n in ast.walk(tree))  # not `python -m <module>`
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if not (name.endswith("import_module") or name == "__import__") or not node.args:
                continue
            arg = node.args[0]
            if "rnxstudio" in ast.unparse(arg) or (names_modules and not isinstance(arg, ast.Constant)):
                found.append(f"{path.relative_to(PKG)}:{node.lineno} {ast.unparse(node)}")
    assert not found, "\n".join(found)
    text = "\n".join(p.read_text(encoding="utf-8") for p, _t in _sources(PKG) if UI not in p.parents)
    assert 'import_module("rnxstudio.ui' not in text and "import_module('rnxstudio.ui" not in text


def test_every_module_outside_the_ui_wing_imports_with_qt_blocked():
    """The runtime twin of the "Qt only in rnxstudio.ui" contract (lazy imports included when run)."""
    mods = sorted(
        "rnxstudio." + ".".join(p.relative_to(PKG).with_suffix("").parts).removesuffix(".__init__")
        for p in PKG.rglob("*.py") if UI not in p.parents and p != UI and p.name != "__main__.py"
    )
    code = ("import importlib, sys\n"
            f"for m in {mods!r}:\n    importlib.import_module(m)\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6')]\n"
            "print('ok', len(sys.modules))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HEADLESS), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stderr[-3000:]


def test_the_headless_blocker_blocks_qt():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HEADLESS), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", "import PySide6"], capture_output=True, text=True, env=env)
    assert out.returncode != 0 and "headless" in out.stderr
    out = subprocess.run([sys.executable, "-m", "rnxstudio", "bench", "--help"], capture_output=True, text=True,
                         env=env)
    assert out.returncode == 0 and "gui-stall" in out.stdout, out.stderr
