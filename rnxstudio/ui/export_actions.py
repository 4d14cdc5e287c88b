"""File menu: export COCO / VOC / YOLO and import label files, through the session (which calls
data.exchange, as the CLI does, and announces what changed)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QFileDialog, QMessageBox

from rnxstudio.data.errors import LabelFormatError
from rnxstudio.data.exchange import ExchangeError
from rnxstudio.ui.context import AppContext

TITLES = {"coco": "Export COCO JSON", "voc": "Export Pascal VOC", "yolo": "Export YOLO"}


class ExchangeController:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.provenance = False  # COCO export option, asked with "verified only?"
        ctx.actions.handle(export_coco=lambda: self.export("coco"), export_voc=lambda: self.export("voc"),
                           export_yolo=lambda: self.export("yolo"), import_labels=lambda: self.import_file())

    def _session(self):
        session = self.ctx.nav.session
        if session is None:
            self.ctx.status.error("No project", "Open a folder, a video or the demo project first.")
        return session

    def ask_verified_only(self, fmt: str = "") -> bool | None:
        """Yes = verified images only, No = every image; None = cancelled. For COCO the box also
        offers "write each box's provenance" (off by default; read back by :attr:`provenance`)."""
        box = QMessageBox(QMessageBox.Question, "Export", "Export only the images marked verified?",
                          QMessageBox.Yes | QMessageBox.No | QMessageBox.Cancel, self.ctx.window)
        box.setObjectName("export_question")
        box.setDefaultButton(QMessageBox.Yes)
        check = None
        if fmt == "coco":
            check = QCheckBox("Write how each box came to be (drawn / accepted / edited, model and score) "
                              "as COCO annotation attributes", box)
            check.setChecked(self.provenance)
            box.setCheckBox(check)
        answer = box.exec()
        if answer == QMessageBox.Cancel:
            return None
        if check is not None:
            self.provenance = check.isChecked()
        return answer == QMessageBox.Yes

    def export(self, fmt: str, out: str | None = None, verified_only: bool | None = None):
        session = self._session()
        if session is None:
            return None
        root = str(session.store.root)
        if out is None:
            if fmt == "coco":
                out, _ = QFileDialog.getSaveFileName(self.ctx.window, TITLES[fmt], str(Path(root) / "annotations.json"),
                                                     "COCO JSON (*.json)")
            else:
                out = QFileDialog.getExistingDirectory(self.ctx.window, TITLES[fmt], root)
            if not out:
                return None
        if verified_only is None:
            verified_only = self.ask_verified_only(fmt)
            if verified_only is None:
                return None
        try:
            result = session.export_labels(fmt, out, verified_only=verified_only,
                                           provenance=self.provenance and fmt == "coco")
        except (ExchangeError, LabelFormatError, OSError) as exc:
            self.ctx.status.error(TITLES[fmt], str(exc))
            return None
        # the summary says how many unreadable images were left out; the first few are named
        note = ""
        if result.skipped:
            note = " — left out: " + "; ".join(result.skipped[:3]) + (" …" if len(result.skipped) > 3 else "")
        self.ctx.status.message(result.summary() + note, 15000)
        return result

    def import_file(self, path: str | None = None):
        session = self._session()
        if session is None:
            return None
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self.ctx.window, "Import labels", str(session.store.root),
                "Label files (*.json *.xml *.txt *.yaml *.yml);;All files (*)")
            if not path:
                return None
        try:
            report = session.import_labels(path)
        except (ExchangeError, LabelFormatError, OSError, ValueError) as exc:
            self.ctx.status.error("Import labels", str(exc))
            return None
        msg = f"Imported: {report.summary()}"
        if report.unmatched_files:
            msg += f" — {len(report.unmatched_files)} file names match no image (e.g. {report.unmatched_files[0]})"
        self.ctx.status.message(msg, 15000)
        return report

    def shutdown(self) -> None:
        pass


def install(ctx: AppContext) -> ExchangeController:
    return ExchangeController(ctx)
