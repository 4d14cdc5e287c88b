"""The GUI part of packaging/smoke.sh, run by the bundle's own interpreter:

    RNXSTUDIO_FROZEN_SCRIPT=packaging/smoke_gui.py dist/rnxstudio/rnxstudio OUT_DIR [MODEL]

Does what a user does, through the menus a user sees (found by their text, as on screen):
File > Open Demo Project, Go > Next Image to the first unlabeled image, Model > Choose Model
(the real dialog: MODEL, default the tiny zoo model, on the CPU, then its OK button), and
Model > Pre-label Current Image until the model has loaded. It passes once the project file
holds predicted boxes; it saves OUT_DIR/prelabel.png (the window) either way and exits 1 with
the reason on failure. Runs unfrozen too (``python packaging/smoke_gui.py OUT``) to check this
script itself against a changed ui.

Assumed: the menu and entry texts above (not object names or module layout, so the ui can be
reorganised freely), the model dialog's combo boxes offering MODEL and "cpu" as item data, and
the project file's ``boxes.source`` / ``images.status`` columns. If one is missing, the failure
names it and lists what the menu does offer.
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
    from PySide6.QtWidgets import (
        QApplication,
        QComboBox,
        QDialog,
        QDialogButtonBox,
        QMessageBox,
        QRadioButton,
        QSlider,
    )

    from rnxstudio.data.demo_project import demo_root
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

    def plain(text: str) -> str:
        """A menu text as the user reads it: no mnemonic '&', no trailing '…', no shortcut."""
        return text.split("\t")[0].replace("&", "").rstrip("…").rstrip(".").strip()

    def menu_entry(path: str) -> QAction:
        """``"Model > Pre-label Current Image"``: the visible, enabled entry under the menu bar."""
        entries = window.menuBar().actions()
        where = "the menu bar"
        for depth, title in enumerate(path.split(" > ")):
            shown = [a for a in entries if a.isVisible() and not a.isSeparator()]
            found = next((a for a in shown if plain(a.text()) == title), None)
            if found is None:
                offered = ", ".join(plain(a.text()) for a in shown)
                raise LookupError(f"{where} has no {title!r} (it offers: {offered}); the ui changed? "
                                  "update packaging/smoke_gui.py")
            if depth == path.count(" > "):
                return found
            if found.menu() is None:
                raise LookupError(f"{title!r} in {where} is not a menu")
            entries, where = found.menu().actions(), f"menu {title!r}"
        raise AssertionError(path)

    def choose(path: str) -> bool:
        """Click a menu entry as a user would; False (nothing done) while it is greyed out."""
        entry = menu_entry(path)
        if not entry.isEnabled():
            return False
        entry.trigger()
        return True

    def count(sql: str) -> int:
        """One number from the demo project file, read-only (the window is its only writer)."""
        project = project_file_for(demo_root() / "images")
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
            for radio in dlg.findChildren(QRadioButton):
                if plain(radio.text()).lower().startswith("zoo"):
                    radio.setChecked(True)  # a zoo model, not a checkpoint file
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
            boxes = dlg.findChildren(QDialogButtonBox)
            ok = boxes[0].button(QDialogButtonBox.StandardButton.Ok) if boxes else None
            if ok is None:
                dlg.reject()
                raise LookupError("the model dialog has no OK button")
            log(f"model dialog: {model} on cpu, OK")
            ok.click()
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
                raise RuntimeError(f"the app showed an error: {text}")  # noqa: TRY004 - not a type check
            if elapsed > TIMEOUT_S:
                raise TimeoutError(f"no predictions after {TIMEOUT_S:.0f} s (step: {state['step']})")
            if modal is not None:  # a dialog of ours is open and runs its own loop
                return
            step = state["step"]
            if step == "open demo":
                if choose("File > Open Demo Project"):
                    log("window shown; File > Open Demo Project")
                    state["step"] = "wait project"
            elif step == "wait project":
                if project_file_for(demo_root() / "images").is_file():
                    # the demo's labelled half comes first: go to the first unlabeled image
                    skip = count("SELECT COUNT(*) FROM images WHERE status = 'verified'")
                    for _ in range(skip):
                        if not choose("Go > Next Image"):
                            raise RuntimeError("Go > Next Image is greyed out with the demo project open")
                    log(f"demo project open; Go > Next Image x{skip}; Model > Choose Model")
                    state["step"] = "choosing"
                    QTimer.singleShot(200, fill_model_dialog)
                    if not choose("Model > Choose Model"):  # returns when the dialog closes
                        raise RuntimeError("Model > Choose Model is greyed out")
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
                    choose("Model > Pre-label Current Image")  # does nothing until the model has loaded
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
