"""Box editing: canvas signals become undoable core commands on the project store.

The canvas never touches the store; this controller turns its signals into commands pushed
through the :class:`UndoBridge` (which writes through to SQLite at once) and redraws the boxes
of the current image whenever the bridge says that image changed.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDialog, QDockWidget

from rnxstudio.core import commands as cmd
from rnxstudio.core.model import Box, BoxSource, ImageStatus, InvalidBoxError, clip_box, default_color
from rnxstudio.ui.class_panel import ClassPanel, ClassPicker
from rnxstudio.ui.undo import UndoBridge

DUPLICATE_OFFSET = 10.0


class EditingController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.canvas = window.canvas
        self.controller = window.controller
        self.bridge = UndoBridge(None, self)
        self.clipboard: list[Box] = []

        self.panel = ClassPanel(window)
        dock = QDockWidget("Classes", window)
        dock.setObjectName("dock_classes")
        dock.setWidget(self.panel)
        window.addDockWidget(Qt.RightDockWidgetArea, dock)
        self.dock = dock

        c = self.controller
        c.project_opened.connect(self._on_project_opened)
        c.current_changed.connect(self._on_current_changed)
        c.image_ready.connect(lambda rec, rgb, err: self.reload_boxes())
        self.bridge.changed.connect(self._on_changed)
        self.bridge.failed.connect(lambda msg: window.statusBar().showMessage(msg, 8000))
        cv = self.canvas
        cv.box_drawn.connect(self.add_box)
        cv.box_edited.connect(self.move_box)
        cv.delete_requested.connect(self.delete_boxes)
        cv.accept_requested.connect(self.accept)
        cv.edit_class_requested.connect(lambda ids: self.change_class(ids))
        cv.space_tapped.connect(self.verify_and_next)
        self.panel.current_changed.connect(self._on_class_changed)
        self.panel.add_requested.connect(self.add_category)
        self.panel.score_changed.connect(cv.set_min_score)
        self.panel.opacity_changed.connect(cv.set_opacity)
        cv.set_min_score(self.panel.threshold)
        for n in range(1, 10):
            sc = QShortcut(QKeySequence(str(n)), window)
            sc.activated.connect(lambda n=n: self.panel.select_number(n))

        h = window.handlers
        h.update(
            undo=self.bridge.undo,
            redo=self.bridge.redo,
            draw_box=lambda: cv.set_mode("draw"),
            delete_boxes=lambda: self.delete_boxes(cv.selected_ids()),
            duplicate_boxes=self.duplicate,
            copy_boxes=self.copy,
            paste_boxes=self.paste,
            paste_previous=self.paste_previous,
            select_all=cv.select_all,
            cycle_selection=cv.cycle_selection,
            accept=lambda: self.accept(cv.selected_ids()),
            accept_all=self.accept_all,
            reject=self.reject,
            change_class=lambda: self.change_class(cv.selected_ids()),
            toggle_predictions=cv.set_show_predictions,
            only_current_class=self._toggle_class_filter,
            verify_next=self.verify_and_next,
        )
        window.actions_by_id["toggle_predictions"].setChecked(True)
        self.bridge.stack.canUndoChanged.connect(window.actions_by_id["undo"].setEnabled)
        self.bridge.stack.canRedoChanged.connect(window.actions_by_id["redo"].setEnabled)
        window.actions_by_id["undo"].setEnabled(False)
        window.actions_by_id["redo"].setEnabled(False)

    # ---- state ----------------------------------------------------------------------------
    @property
    def store(self):
        return self.controller.store

    def _on_project_opened(self, store) -> None:
        self.bridge.set_store(store)
        self.clipboard = []
        self.panel.set_categories(store.categories())

    def _on_current_changed(self, rec) -> None:
        self.canvas.set_mode("select")

    def _on_class_changed(self, category_id) -> None:
        self.canvas.set_current_category(category_id)
        if self.w.actions_by_id["only_current_class"].isChecked():
            self.canvas.set_class_filter(category_id)

    def _toggle_class_filter(self, on: bool) -> None:
        self.canvas.set_class_filter(self.panel.current_id() if on else None)

    def reload_boxes(self) -> None:
        rec = self.controller.current
        if rec is None or self.store is None or self.canvas.image_size() is None:
            return
        cats = {c.id: c for c in self.store.categories()}
        selected = self.canvas.selected_ids()
        self.canvas.set_boxes(self.store.boxes(rec.id), cats)
        self.canvas.select([i for i in selected if self.canvas.has_box(i)])

    def _on_changed(self, image_id: int) -> None:
        self.controller.files.invalidate(image_id)
        rec = self.controller.current
        if rec is not None and rec.id == image_id:
            self.controller.refresh_current()
            self.reload_boxes()

    # ---- edits ------------------------------------------------------------------------------
    def _current_category(self) -> int | None:
        cid = self.panel.current_id()
        if cid is None:
            self.w.show_error("No class", "Add a class first (Classes panel → Add class…).")
        return cid

    def add_box(self, xyxy) -> None:
        rec = self.controller.current
        cid = self._current_category()
        if rec is None or cid is None:
            return
        box = Box(*map(float, xyxy), category_id=cid, image_id=rec.id, source=BoxSource.MANUAL)
        command = cmd.AddBox(box)
        if self.bridge.push(command) and command.created is not None:
            self.canvas.select([command.created.id])

    def move_box(self, box_id: int, xyxy) -> None:
        self.bridge.push(cmd.MoveResizeBox(box_id, *map(float, xyxy)))

    def delete_boxes(self, ids) -> None:
        if ids:
            self.bridge.push(cmd.DeleteBoxes(list(ids)))

    def accept(self, ids) -> None:
        ids = [i for i in ids if self._is_prediction(i)]
        if ids:
            self.bridge.push(cmd.AcceptPredictions(ids))

    def accept_all(self) -> None:
        rec = self.controller.current
        if rec is not None:
            self.bridge.push(cmd.AcceptAllAbove(rec.id, self.panel.threshold))

    def reject(self) -> None:
        ids = [i for i in self.canvas.selected_ids() if self._is_prediction(i)]
        if ids:
            self.bridge.push(cmd.RejectPredictions(ids))

    def _is_prediction(self, box_id: int) -> bool:
        try:
            return self.store.get_box(box_id).source == BoxSource.PREDICTED
        except Exception:  # noqa: BLE001 - a box deleted meanwhile is simply not a prediction
            return False

    def change_class(self, ids, category_id: int | None = None) -> None:
        ids = list(ids)
        if not ids or self.store is None:
            return
        if category_id is None:
            picker = ClassPicker(self.store.categories(), self.w, current=self.panel.current_id())
            if picker.exec() != QDialog.Accepted:
                return
            category_id = picker.chosen_id()
        if category_id is not None:
            self.bridge.push(cmd.Relabel(ids, category_id))

    def copy(self) -> None:
        rec = self.controller.current
        if rec is None:
            return
        ids = set(self.canvas.selected_ids())
        self.clipboard = [b for b in self.store.boxes(rec.id) if b.id in ids]
        self.w.statusBar().showMessage(f"Copied {len(self.clipboard)} boxes", 3000)

    def _add_copies(self, boxes, dx: float, text: str) -> None:
        rec = self.controller.current
        if rec is None or not boxes:
            return
        commands = []
        for b in boxes:
            copy = replace(b, id=0, image_id=rec.id, source=BoxSource.MANUAL, score=None, verified=False)
            copy = copy.with_coords(b.x1 + dx, b.y1 + dx, b.x2 + dx, b.y2 + dx)
            try:
                commands.append(cmd.AddBox(clip_box(copy, rec.width, rec.height)))
            except InvalidBoxError:
                continue
        if commands:
            self.bridge.push_group(commands, text)

    def paste(self) -> None:
        self._add_copies(self.clipboard, 0.0, f"Paste {len(self.clipboard)} boxes")

    def duplicate(self) -> None:
        rec = self.controller.current
        if rec is None:
            return
        ids = set(self.canvas.selected_ids())
        self._add_copies([b for b in self.store.boxes(rec.id) if b.id in ids], DUPLICATE_OFFSET, "Duplicate boxes")

    def paste_previous(self) -> None:
        """All boxes of the previous image/frame in the list onto this one (only this one)."""
        rec, row = self.controller.current, self.controller.current_row
        if rec is None or not row:
            return
        prev = self.controller.files.id_at(row - 1)
        if prev is not None and self._has_persons_boxes(prev):  # else no empty, do-nothing undo step
            self.bridge.push(cmd.PasteBoxes(prev, rec.id))

    def copy_to_next(self) -> None:
        """Video helper: copy this frame's boxes to the next frame, then show it."""
        rec, row = self.controller.current, self.controller.current_row
        if rec is None or row is None:
            return
        nxt = self.controller.files.id_at(row + 1)
        if nxt is not None and not self._has_persons_boxes(rec.id):
            self.controller.step(+1)  # nothing to copy: just move on, no empty undo step
            return
        if nxt is not None and self.store.image(nxt).width <= 0:
            from rnxstudio.data.project import fill_image_sizes

            fill_image_sizes(self.store, [nxt])  # not shown yet: its size comes from the file header
        if nxt is not None and self.bridge.push(cmd.PasteBoxes(rec.id, nxt)):
            self.controller.step(+1)

    def _has_persons_boxes(self, image_id: int) -> bool:
        has = bool(self.store.boxes(image_id, include_predictions=False))
        if not has:
            self.w.statusBar().showMessage("No boxes to copy on that image", 4000)
        return has

    def verify_and_next(self) -> None:
        rec = self.controller.current
        if rec is None:
            return
        if rec.status != ImageStatus.VERIFIED:
            self.bridge.push(cmd.SetStatus(rec.id, ImageStatus.VERIFIED))
        ids = self.controller.files.ids()
        row = self.controller.current_row or 0
        for image_id in ids[row + 1 :] + ids[:row]:
            r = self.controller.files.record(image_id)
            if r is not None and r.status != ImageStatus.VERIFIED:
                self.controller.set_current(image_id)
                return
        self.w.statusBar().showMessage("Every image is verified", 5000)

    def add_category(self, name: str) -> None:
        if self.store is None:
            return
        if self.store.category_by_name(name) is not None:
            self.w.show_error("Add class", f"A class named '{name}' already exists.")
            return
        cat = self.store.add_category(name, color=default_color(len(self.store.categories())))
        self.panel.set_categories(self.store.categories(), current=cat.id)


def install(window) -> None:
    ed = EditingController(window)
    window.editing = ed
    window.handlers["copy_to_next_frame"] = ed.copy_to_next
