"""File menu: export COCO / VOC / YOLO and import label files, through data.exchange."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from rnxstudio.data.errors import LabelFormatError
from rnxstudio.data.exchange import ExchangeError, export_labels, import_labels

TITLES = {"coco": "Export COCO JSON", "voc": "Export Pascal VOC", "yolo": "Export YOLO"}


class ExchangeController:
    def __init__(self, window):
        self.w = window

    def _store(self):
        store = self.w.controller.store
        if store is None:
            self.w.show_error("No project", "Open a folder, a video or the demo project first.")
        return store

    def ask_verified_only(self) -> bool | None:
        """Yes = verified images only, No = every image; None = cancelled."""
        box = QMessageBox(QMessageBox.Question, "Export", "Export only the images marked verified?",
                          QMessageBox.Yes | QMessageBox.No | QMessageBox.Cancel, self.w)
        box.setDefaultButton(QMessageBox.Yes)
        answer = box.exec()
        if answer == QMessageBox.Cancel:
            return None
        return answer == QMessageBox.Yes

    def export(self, fmt: str, out: str | None = None, verified_only: bool | None = None):
        store = self._store()
        if store is None:
            return None
        if out is None:
            if fmt == "coco":
                out, _ = QFileDialog.getSaveFileName(self.w, TITLES[fmt], str(Path(store.root) / "annotations.json"),
                                                     "COCO JSON (*.json)")
            else:
                out = QFileDialog.getExistingDirectory(self.w, TITLES[fmt], str(store.root))
            if not out:
                return None
        if verified_only is None:
            verified_only = self.ask_verified_only()
            if verified_only is None:
                return None
        try:
            result = export_labels(store, fmt, out, verified_only=verified_only)
        except (ExchangeError, LabelFormatError, OSError) as exc:
            self.w.show_error(TITLES[fmt], str(exc))
            return None
        note = f" ({len(result.skipped)} unreadable images skipped)" if result.skipped else ""
        self.w.statusBar().showMessage(result.summary() + note, 10000)
        return result

    def import_file(self, path: str | None = None):
        store = self._store()
        if store is None:
            return None
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self.w, "Import labels", str(store.root),
                "Label files (*.json *.xml *.txt *.yaml *.yml);;All files (*)")
            if not path:
                return None
        try:
            report = import_labels(store, path)
        except (ExchangeError, LabelFormatError, OSError, ValueError) as exc:
            self.w.show_error("Import labels", str(exc))
            return None
        self.w.controller.files.refresh()
        editing = getattr(self.w, "editing", None)
        if editing is not None:
            editing.panel.set_categories(store.categories(), current=editing.panel.current_id())
            editing.bridge.clear()  # imported boxes are not undoable edits; old history no longer matches
            editing.reload_boxes()
        msg = f"Imported: {report.summary()}"
        if report.unmatched_files:
            msg += f" — {len(report.unmatched_files)} file names match no image (e.g. {report.unmatched_files[0]})"
        self.w.statusBar().showMessage(msg, 15000)
        return report


def install(window) -> None:
    ex = ExchangeController(window)
    window.exchange = ex
    window.handlers["export_coco"] = lambda: ex.export("coco")
    window.handlers["export_voc"] = lambda: ex.export("voc")
    window.handlers["export_yolo"] = lambda: ex.export("yolo")
    window.handlers["import_labels"] = lambda: ex.import_file()
