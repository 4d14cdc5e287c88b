"""Box layer of the canvas: the items shown, display filters, selection and hit tests.

A mixin of :class:`rnxstudio.ui.canvas.view.ImageCanvas` (which declares the signals and owns
the scene); split out so the view file stays about images, zoom and input.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF

from rnxstudio.core.model import Box, BoxSource, Category, default_color
from rnxstudio.core import geometry as geo
from rnxstudio.ui.canvas.items import HANDLE_SIZE, BoxItem

if TYPE_CHECKING:
    from rnxstudio.ui.canvas.tools import Tool

HIT_TOLERANCE_PX = 3.0
"""How far outside a box's outline (screen pixels) a click still hits it."""


class BoxLayerMixin:
    """Boxes, filters and selection. Expects the host to be a QGraphicsView with the canvas
    signals, ``zoom()``, ``map_from_image()``, ``image_size()`` and a current ``_tool``."""

    _tool: Tool

    def _init_box_layer(self) -> None:
        self._items: dict[int, BoxItem] = {}
        self._order: list[int] = []
        self._categories: dict[int, Category] = {}
        self._selected: list[int] = []
        self._opacity = 1.0
        self._show_predictions = True
        self._class_filter: int | None = None
        self._min_score = 0.0
        self._current_category: int | None = None

    # ------------------------------------------------------------------ boxes
    def set_boxes(self, boxes: list[Box], categories: dict[int, Category]) -> None:
        """Show ``boxes`` (ids must be unique). Items are reused by box id."""
        ids = [b.id for b in boxes]
        if len(set(ids)) != len(ids):
            raise ValueError("set_boxes needs unique box ids")
        self._categories = dict(categories)
        keep = set(ids)
        for box_id in [i for i in self._items if i not in keep]:
            self.scene().removeItem(self._items.pop(box_id))
        for box in boxes:
            cat = self._categories.get(box.category_id)
            item = self._items.get(box.id)
            if item is None:
                item = self._items[box.id] = BoxItem(box, cat)
                item.setOpacity(self._opacity)
                item.set_view_zoom(self.zoom())
                self.scene().addItem(item)
            elif item.box != box or item._category != cat:
                item.update_box(box, cat)
        self._order = ids
        self._apply_visibility()
        self._tool.refresh()

    def boxes(self) -> list[Box]:
        return [self._items[i].box for i in self._order]

    def has_box(self, box_id: int) -> bool:
        return box_id in self._items

    def box_xyxy(self, box_id: int) -> geo.XYXY:
        """The box as currently drawn (includes a drag preview)."""
        return self._items[box_id].current_xyxy()

    def box_label(self, box_id: int) -> str:
        return self._items[box_id].label_text

    def is_box_visible(self, box_id: int) -> bool:
        item = self._items.get(box_id)
        return item is not None and item.isVisible()

    def visible_ids(self) -> list[int]:
        return [i for i in self._order if self._items[i].isVisible()]

    def _passes_filters(self, box: Box) -> bool:
        if box.source == BoxSource.PREDICTED:
            if not self._show_predictions:
                return False
            if box.score is not None and box.score < self._min_score:
                return False
        return self._class_filter is None or box.category_id == self._class_filter

    def _apply_visibility(self) -> None:
        for box_id in self._order:
            item = self._items[box_id]
            item.setVisible(self._passes_filters(item.box))
        still = [i for i in self._selected if self.is_box_visible(i)]
        self._set_selection(still)

    # -------------------------------------------------------------- display filters
    def set_opacity(self, opacity: float) -> None:
        self._opacity = min(max(float(opacity), 0.0), 1.0)
        for item in self._items.values():
            item.setOpacity(self._opacity)

    def set_show_predictions(self, show: bool) -> None:
        self._show_predictions = bool(show)
        self._apply_visibility()

    def set_class_filter(self, category_id: int | None) -> None:
        """Show only boxes of ``category_id`` (None shows all)."""
        self._class_filter = category_id
        self._apply_visibility()

    def set_min_score(self, score: float) -> None:
        """Hide predictions scoring below ``score`` (live; the model is not re-run)."""
        self._min_score = float(score)
        self._apply_visibility()

    def set_current_category(self, category_id: int | None) -> None:
        self._current_category = category_id

    def current_category(self) -> int | None:
        return self._current_category

    def current_color(self) -> str:
        cid = self._current_category
        cat = self._categories.get(cid) if cid is not None else None
        return cat.color if cat is not None else default_color(cid or 0)

    # ------------------------------------------------------------ selection
    def selected_ids(self) -> list[int]:
        return list(self._selected)

    def select(self, ids: Iterable[int]) -> None:
        """Select the given visible boxes (unknown or hidden ids are ignored)."""
        wanted: list[int] = []
        for i in ids:
            if self.is_box_visible(i) and i not in wanted:
                wanted.append(i)
        self._set_selection(wanted)

    def _set_selection(self, ids: list[int]) -> None:
        if ids == self._selected:
            return
        for i in self._selected:
            if i in self._items:
                self._items[i].set_selected(False)
        self._selected = ids
        for i in ids:
            self._items[i].set_selected(True)
        self.selection_changed.emit(list(ids))

    def select_all(self) -> None:
        self.select(self.visible_ids())

    def clear_selection(self) -> None:
        self.select([])

    def cycle_selection(self, step: int = 1) -> None:
        """Select the next (or previous, step=-1) visible box, wrapping around."""
        order = self.visible_ids()
        if not order:
            return
        if self._selected and self._selected[-1] in order:
            idx = (order.index(self._selected[-1]) + step) % len(order)
        else:
            idx = 0 if step > 0 else len(order) - 1
        self.select([order[idx]])

    def delete_selected(self) -> None:
        if self._selected:
            self.delete_requested.emit(list(self._selected))

    def accept_selected(self) -> None:
        """Ask to accept the selected predictions; on manual boxes, ask for a class instead."""
        preds = [i for i in self._selected if self._items[i].box.source == BoxSource.PREDICTED]
        if preds:
            self.accept_requested.emit(preds)
        elif self._selected:
            self.edit_class_requested.emit(list(self._selected))

    def nudge_selected(self, dx: float, dy: float) -> None:
        """Move the selected boxes by (dx, dy) pixels, kept inside the image; one edit each."""
        if self._size is None or self._tool.active:
            return
        for box_id in list(self._selected):
            old = self.box_xyxy(box_id)
            new = geo.moved(old, dx, dy, *self._size)
            if new != old:
                self.commit_edit(box_id, new)

    # ------------------------------------------------------- tool callbacks
    def box_at(self, pos: QPointF, view_pos: QPointF | None = None) -> int | None:
        """The box under image point ``pos``: a selected one first, else the smallest."""
        tol = HIT_TOLERANCE_PX / max(self.zoom(), 1e-9)
        hits = [i for i in self.visible_ids() if geo.contains(self.box_xyxy(i), pos.x(), pos.y(), tol)]
        if not hits:
            return None
        for i in reversed(self._selected):
            if i in hits:
                return i
        return min(hits, key=lambda i: geo.area(self.box_xyxy(i)))

    def handle_at(self, view_pos: QPointF) -> tuple[int, str] | None:
        """(box id, handle name) of a selected box's handle under ``view_pos``."""
        reach = HANDLE_SIZE / 2.0 + 2.0
        for box_id in reversed(self._selected):
            for name, (x, y) in geo.handle_points(self.box_xyxy(box_id)).items():
                p = self.map_from_image(x, y)
                if abs(p.x() - view_pos.x()) <= reach and abs(p.y() - view_pos.y()) <= reach:
                    return box_id, name
        return None

    def preview_box(self, box_id: int, xyxy: geo.XYXY) -> None:
        self._items[box_id].set_rect(xyxy)

    def commit_edit(self, box_id: int, xyxy: geo.XYXY) -> None:
        """Keep the edited geometry on screen and report it (the controller updates the store)."""
        item = self._items[box_id]
        item.update_box(item.box.with_coords(*xyxy), item._category)
        self.box_edited.emit(box_id, tuple(float(v) for v in xyxy))

    def finish_drawing(self, xyxy: geo.XYXY) -> None:
        self.box_drawn.emit(tuple(float(v) for v in xyxy))
        if not self.continuous_draw:
            self.set_mode("select")
