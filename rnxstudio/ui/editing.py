"""Box editing: canvas signals become undoable core commands pushed to the session, and the
canvas box layer follows what the session announces.

The canvas never touches the store; the session applies every edit (writing through to SQLite
at once) and says which images changed. The box layer reloads the current image's boxes when an
edit, an undo/redo, a model run or a class edit touched it — nobody reloads it by hand.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDialog

from rnxstudio.core import commands as cmd
from rnxstudio.core.model import Box, BoxSource, ImageStatus, InvalidBoxError, clip_box
from rnxstudio.ui.class_panel import ClassPicker
from rnxstudio.ui.classes import ClassesFeature
from rnxstudio.ui.context import AppContext
from rnxstudio.ui import verify
from rnxstudio.ui.session_qt import touches

DUPLICATE_OFFSET = 10.0


class BoxLayer(QObject):
    """Keeps the canvas's boxes equal to the current image's boxes in the project."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx.window)
        self.ctx = ctx
        s = ctx.session
        ctx.nav.image_ready.connect(lambda rec, rgb, err: self.reload())
        s.boxes_changed.connect(lambda _ids, image_ids, _cause: self._if_current(image_ids))
        s.predictions_changed.connect(lambda image_ids, _model: self._if_current(image_ids))
        s.categories_changed.connect(self.reload)

    def _if_current(self, image_ids) -> None:
        cur = self.ctx.nav.current
        if cur is not None and touches(image_ids, cur.id):
            self.reload()

    def reload(self) -> None:
        nav, canvas = self.ctx.nav, self.ctx.canvas
        rec, store = nav.current, nav.store
        if rec is None or store is None or canvas.image_size() is None:
            return
        selected = canvas.selected_ids()
        canvas.set_boxes(store.boxes(rec.id), {c.id: c for c in store.categories()})
        canvas.select([i for i in selected if canvas.has_box(i)])


class EditingController(QObject):
    def __init__(self, ctx: AppContext, classes: ClassesFeature):
        super().__init__(ctx.window)
        self.ctx = ctx
        self.classes = classes
        self.canvas = ctx.canvas
        self.nav = ctx.nav
        self.layer = BoxLayer(ctx)
        self.clipboard: list[Box] = []

        s, cv = ctx.session, self.canvas
        s.opened.connect(lambda _session: self.clipboard.clear())
        s.refused.connect(lambda msg: ctx.status.message(msg, 8000))
        s.history_changed.connect(self._on_history)
        self.nav.current_changed.connect(lambda _rec: cv.set_mode("select"))
        cv.box_drawn.connect(self.add_box)
        cv.box_edited.connect(self.move_box)
        cv.delete_requested.connect(self.delete_boxes)
        cv.accept_requested.connect(self.accept)
        cv.edit_class_requested.connect(lambda ids: self.change_class(ids))
        cv.space_tapped.connect(self.verify_and_next)
        ctx.actions.handle(
            undo=self.undo,
            redo=self.redo,
            draw_box=lambda: cv.set_mode("draw"),
            delete_boxes=lambda: self.delete_boxes(cv.selected_ids()),
            duplicate_boxes=self.duplicate,
            copy_boxes=self.copy,
            paste_boxes=self.paste,
            paste_previous=self.paste_previous,
            copy_to_next_frame=self.copy_to_next,
            select_all=cv.select_all,
            cycle_selection=cv.cycle_selection,
            accept=lambda: self.accept(cv.selected_ids()),
            accept_all=self.accept_all,
            reject=self.reject,
            change_class=lambda: self.change_class(cv.selected_ids()),
            toggle_predictions=cv.set_show_predictions,
            verify_next=self.verify_and_next,
            verify_accepts=lambda on: verify.set_accepts_shown(ctx, on),
        )
        ctx.actions.by_id["toggle_predictions"].setChecked(True)
        ctx.actions.by_id["verify_accepts"].setChecked(verify.accepts_shown(ctx))
        self._on_history(None, None)

    @property
    def session(self):
        return self.nav.session

    def _on_history(self, undo_text, redo_text) -> None:
        for action_id, text, label in (("undo", undo_text, "Undo"), ("redo", redo_text, "Redo")):
            act = self.ctx.actions.by_id[action_id]
            act.setEnabled(text is not None)
            act.setText(f"&{label} {text}" if text else f"&{label}")

    def push(self, command: cmd.Command) -> bool:
        return self.session is not None and self.session.push(command)

    # ---- undo / redo --------------------------------------------------------------------
    def undo(self) -> None:
        if self.session is not None:
            self.session.undo()

    def redo(self) -> None:
        if self.session is not None:
            self.session.redo()

    # ---- edits ------------------------------------------------------------------------------
    def _current_category(self) -> int | None:
        cid = self.classes.current_id()
        if cid is None:
            self.ctx.status.error("No class", "Add a class first (Classes panel → Add class…).")
        return cid

    def add_box(self, xyxy) -> None:
        rec = self.nav.current
        cid = self._current_category()
        if rec is None or cid is None:
            return
        command = cmd.AddBox(Box(*map(float, xyxy), category_id=cid, image_id=rec.id, source=BoxSource.MANUAL))
        if self.push(command) and command.created is not None:
            self.canvas.select([command.created.id])

    def move_box(self, box_id: int, xyxy) -> None:
        self.push(cmd.MoveResizeBox(box_id, *map(float, xyxy)))

    def delete_boxes(self, ids) -> None:
        if ids:
            self.push(cmd.DeleteBoxes(list(ids)))

    def _predictions(self, ids) -> list[int]:
        shown = {b.id: b for b in self.canvas.boxes()}
        return [i for i in ids if i in shown and shown[i].source is BoxSource.PREDICTED]

    def accept(self, ids) -> None:
        ids = self._predictions(ids)
        if ids:
            self.push(cmd.AcceptPredictions(ids))

    def accept_all(self) -> None:
        rec = self.nav.current
        if rec is not None:
            self.push(cmd.AcceptAllAbove(rec.id, self.classes.threshold))

    def reject(self) -> None:
        ids = self._predictions(self.canvas.selected_ids())
        if ids:
            self.push(cmd.RejectPredictions(ids))

    def change_class(self, ids, category_id: int | None = None) -> None:
        ids = list(ids)
        if not ids or self.session is None:
            return
        if category_id is None:
            picker = ClassPicker(self.classes.categories(), self.ctx.window, current=self.classes.current_id())
            if picker.exec() != QDialog.Accepted:
                return
            category_id = picker.chosen_id()
        if category_id is not None:
            self.push(cmd.Relabel(ids, category_id))

    def copy(self) -> None:
        ids = set(self.canvas.selected_ids())
        self.clipboard = [b for b in self.canvas.boxes() if b.id in ids]
        self.ctx.status.message(f"Copied {len(self.clipboard)} boxes", 3000)

    def _add_copies(self, boxes, dx: float, text: str) -> None:
        rec = self.nav.current
        if rec is None or not boxes or self.session is None:
            return
        commands = []
        for b in boxes:
            copy = replace(b, id=0, image_id=rec.id, source=BoxSource.MANUAL, score=None, verified=False,
                           model_name=None)
            try:
                commands.append(cmd.AddBox(clip_box(copy.with_coords(b.x1 + dx, b.y1 + dx, b.x2 + dx, b.y2 + dx),
                                                    rec.width, rec.height)))
            except InvalidBoxError:
                continue
        if commands:
            self.session.push_group(commands, text)

    def paste(self) -> None:
        self._add_copies(self.clipboard, 0.0, f"Paste {len(self.clipboard)} boxes")

    def duplicate(self) -> None:
        ids = set(self.canvas.selected_ids())
        self._add_copies([b for b in self.canvas.boxes() if b.id in ids], DUPLICATE_OFFSET, "Duplicate boxes")

    def paste_previous(self) -> None:
        """All boxes of the previous image/frame in the list onto this one (only this one)."""
        rec, row = self.nav.current, self.nav.current_row
        if rec is None or not row:
            return
        prev = self.nav.files.id_at(row - 1)
        if prev is not None and self._has_own_boxes(prev):  # else no empty, do-nothing undo step
            self.push(cmd.PasteBoxes(prev, rec.id))

    def copy_to_next(self) -> None:
        """Video helper: copy this frame's boxes to the next frame, then show it."""
        rec, row = self.nav.current, self.nav.current_row
        if rec is None or row is None or self.session is None:
            return
        nxt = self.nav.files.id_at(row + 1)
        if nxt is not None and not self._has_own_boxes(rec.id):
            self.nav.step(+1)  # nothing to copy: just move on, no empty undo step
            return
        if nxt is not None and self.nav.store.image(nxt).width <= 0:
            self.session.fill_image_sizes([nxt])  # not shown yet: its size comes from the file header
        if nxt is not None and self.push(cmd.PasteBoxes(rec.id, nxt)):
            self.nav.step(+1)

    def _has_own_boxes(self, image_id: int) -> bool:
        """Whether the image has a person's (manual or accepted) boxes; says so when not."""
        has = bool(self.nav.store.boxes(image_id, include_predictions=False))
        if not has:
            self.ctx.status.message("No boxes to copy on that image", 4000)
        return has

    def verify_and_next(self) -> None:
        rec = self.nav.current
        if rec is None or self.session is None:
            return
        if not verify.verify(self.ctx, rec.id, self.classes.threshold):
            return
        ids = self.nav.files.ids()
        row = self.nav.current_row or 0
        for image_id in ids[row + 1:] + ids[:row]:
            r = self.nav.files.record(image_id)
            if r is not None and r.status != ImageStatus.VERIFIED:
                self.nav.set_current(image_id)
                return
        self.ctx.status.message("Every image is verified", 5000)

    def shutdown(self) -> None:
        pass


def install(ctx: AppContext, classes: ClassesFeature) -> EditingController:
    return EditingController(ctx, classes)
