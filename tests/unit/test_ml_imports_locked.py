"""Every import of the ml stack inside a function of ``rnxstudio.ui`` runs under ``ml_lock()``.

The ui imports torch / torchvision lazily: on the GUI thread (a dialog opening) and on worker
threads (the model lane, the train lane, the background warm-up). Two threads importing those
packages at once can fail with importlib's ``_DeadlockError``; one shared lock
(``rnxstudio.ui.ml_import``) serialises them. An import left outside it works in every test that
happens not to race, so this checks the rule on the source itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "rnxstudio" / "ui"


def _is_ml(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "").startswith("rnxstudio.ml")
    if isinstance(node, ast.Import):
        return any(a.name.startswith("rnxstudio.ml") for a in node.names)
    return False


def _locks(node: ast.AST) -> bool:
    return isinstance(node, ast.With) and any(
        isinstance(item.context_expr, ast.Call) and getattr(item.context_expr.func, "id", None) == "ml_lock"
        for item in node.items)


def unlocked_ml_imports(source: str, name: str = "<src>") -> list[str]:
    """``file:line`` of every ml import inside a function that no ``with ml_lock():`` encloses."""
    found: list[str] = []

    def walk(node: ast.AST, in_function: bool, locked: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_ml(child) and in_function and not locked:
                found.append(f"{name}:{child.lineno}")
            walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)),
                 locked or _locks(child))

    walk(ast.parse(source), False, False)
    return found


def test_the_check_sees_an_unlocked_import_and_accepts_a_locked_one():
    bad = "def f():\n    from rnxstudio.ml.zoo import MODELS\n"
    good = "def f():\n    with ml_lock():\n        from rnxstudio.ml.zoo import MODELS\n"
    top = "from rnxstudio.ml.zoo import MODELS\n"  # module level: imported with the module, under its lock
    assert unlocked_ml_imports(bad) == ["<src>:2"]
    assert unlocked_ml_imports(good) == []
    assert unlocked_ml_imports(top) == []


def test_no_ui_function_imports_the_ml_stack_outside_the_lock():
    found = []
    for path in sorted(UI.rglob("*.py")):
        found += unlocked_ml_imports(path.read_text(), str(path.relative_to(UI.parent.parent)))
    assert found == [], "wrap these in `with ml_lock():` (rnxstudio/ui/ml_import.py):\n" + "\n".join(found)
