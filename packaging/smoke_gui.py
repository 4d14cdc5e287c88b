"""The GUI part of packaging/smoke.sh, run by the bundle's own interpreter:

    RNXSTUDIO_FROZEN_SCRIPT=packaging/smoke_gui.py dist/rnxstudio/rnxstudio OUT_DIR [MODEL]

Does what a user does, through the window's own actions: File > Open Demo Project, Model >
Choose Model (the real dialog, set to MODEL — default the tiny zoo model — on the CPU), then
Go > Next Image to the first unlabeled image, Model > Pre-label Current Image until the
model has loaded. It passes once the project file
holds predicted boxes; it saves OUT_DIR/prelabel.png (the window) either way and exits 1 with
the reason on failure. Runs unfrozen too (``python packaging/smoke_gui.py OUT``) to check this
script itself against a changed ui.

Only the action ids (rnxstudio/ui/actions.py), the model dialog's combo boxes (found by their
item data) and the project file's ``boxes.source`` / ``images.status`` columns are assumed; if the ui renames them,
this script says which one it could not find.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

TIMEOUT_S = 600.0  # a cold start of the frozen torch on a loaded 2-core machine takes minutes
RETRY_S = 2.0


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    model = sys.argv[2] if len(sys.argv) > 2 else "resnext_tiny_fpn"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QApplication, QComboBox, QDialog, QMessageBox, QSlider

    from rnxstudio.core.paths import demo_dir
    from rnxstudio.data.project import project_file_for
    from rnxstudio.ui.app import make_app
    from rnxstudio.ui.main_window import MainWindow

    app = make_app()
    window = MainWindow()
    window.show()
    state = {"step": "open demo", "result": 1, "last_try": 0.0, "predicted": 0}

    def log(text: str) -> None:
        print(f"smoke_gui {time.monotonic() - t0:7.1f} s  {text}", flush=True)

    def finish(code: int, text: str) -> None:
        state["result"] = code
        shot = out / "prelabel.png"
        window.grab().save(str(shot))
        log(f"{text}; window saved to {shot}")
        timer.stop()
        window.close()
        app.quit()

    def action(action_id: str) -> QAction:
        found = window.findChild(QAction, action_id)
        if found is None:
            raise LookupError(f"the main window has no action {action_id!r} (ui/actions.py changed? "
                              "update packaging/smoke_gui.py)")
        return found

    def count(sql: str) -> int:
        """One number from the demo project file, read-only (the window is its only writer)."""
        project = project_file_for(demo_dir() / "images")
        if not project.is_file():
            return 0
        conn = sqlite3.connect(f"file:{project}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()

    def fill_model_dialog() -> None:
        """Runs inside the dialog's own event loop: pick MODEL and the CPU, press OK."""
        try:
            dlg = QApplication.activeModalWidget()
            if not isinstance(dlg, QDialog):
                QTimer.singleShot(200, fill_model_dialog)  # not open yet (it imports torch first)
                return
            picked = {"model": False, "cpu": False}
            for combo in dlg.findChildren(QComboBox):
                for key, data in (("model", model), ("cpu", "cpu")):
                    index = combo.findData(data)
                    if index >= 0:
                        combo.setCurrentIndex(index)
                        picked[key] = True
            if not all(picked.values()):
                dlg.reject()
                raise LookupError(f"the model dialog offers no {[k for k, v in picked.items() if not v]} "
                                  f"entry for {model!r} / 'cpu'")
            log(f"model dialog: {model} on cpu, OK")
            dlg.accept()
        except Exception as exc:  # noqa: BLE001 - any failure ends the smoke test with its reason
            state["error"] = f"{type(exc).__name__}: {exc}"

    def tick() -> None:
        try:
            if "error" in state:
                raise RuntimeError(state.pop("error"))
            elapsed = time.monotonic() - t0
            modal = QApplication.activeModalWidget()
            if isinstance(modal, QMessageBox):  # the app reports a failure (model load, pre-label)
                text = f"{modal.windowTitle()}: {modal.text()}"
                modal.reject()
                raise RuntimeError(f"the app showed an error: {text}")
            if elapsed > TIMEOUT_S:
                raise TimeoutError(f"no predictions after {TIMEOUT_S:.0f} s (step: {state['step']})")
            if modal is not None:  # a dialog of ours is open and runs its own loop
                return
            step = state["step"]
            if step == "open demo":
                log("window shown; File > Open Demo Project")
                action("open_demo").trigger()
                state["step"] = "wait project"
            elif step == "wait project":
                if project_file_for(demo_dir() / "images").is_file():
                    # the demo's labelled half comes first: go to the first unlabeled image
                    skip = count("SELECT COUNT(*) FROM images WHERE status = 'verified'")
                    for _ in range(skip):
                        action("next_image").trigger()
                    log(f"demo project open; Go > Next Image x{skip}; Model > Choose Model")
                    state["step"] = "choosing"
                    QTimer.singleShot(200, fill_model_dialog)
                    action("choose_model").trigger()  # returns when the dialog closes
                    state["step"] = "pre-label"
            elif step == "pre-label":
                predicted = count("SELECT COUNT(*) FROM boxes WHERE source = 'predicted'")
                if predicted:
                    state["predicted"] = predicted
                    state["step"] = "settle"
                    # A random model's scores sit near 0.5: drag the confidence slider down, as a
                    # user would, so the screenshot shows the boxes (cosmetic; no slider, no harm).
                    for slider in window.findChildren(QSlider):
                        if "confidence" in slider.toolTip().lower():
                            slider.setValue(slider.minimum())
                    state["settle_until"] = time.monotonic() + 2.0  # let the canvas paint them
                    log(f"{predicted} predicted boxes in the project")
                elif time.monotonic() - state["last_try"] > RETRY_S:
                    state["last_try"] = time.monotonic()
                    action("prelabel_current").trigger()  # does nothing until the model has loaded
            elif step == "settle" and time.monotonic() > state["settle_until"]:
                finish(0, f"PASS: pre-labeled through the GUI ({state['predicted']} boxes)")
        except Exception as exc:  # noqa: BLE001
            finish(1, f"FAIL: {type(exc).__name__}: {exc}")

    timer = QTimer(window)
    timer.timeout.connect(tick)
    timer.start(250)
    app.exec()
    return int(state["result"])


if __name__ == "__main__":
    sys.exit(main())
