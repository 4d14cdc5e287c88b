"""What a person told the model, kept in the project (a mixin of ProjectStore): the predictions
they rejected (per image and model version) and how each model's classes map onto the
project's. Schema version 3; see docs/adr/0020-predictions-meet-a-persons-labels.md."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from rnxstudio.core.model import Box, BoxSource


class ReviewMemoryMixin:
    """Needs the store's ``_q`` and ``transaction``."""

    # ------------------------------------------------------------------ rejected predictions
    def remember_rejections(self, boxes: Iterable[Box]) -> None:
        """Remember rejected predictions (others are ignored) so the same model's next run on
        the image does not show them again."""
        rows = [(b.image_id, b.model_identity or "", b.category_id, b.x1, b.y1, b.x2, b.y2, b.id)
                for b in boxes if b.source is BoxSource.PREDICTED]
        if rows:
            with self.transaction():
                self._conn.executemany("INSERT INTO rejections (image_id, model, category_id, x1, y1, x2, y2, box_id) "
                                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def forget_rejections(self, box_ids: Sequence[int]) -> None:
        """Forget the rejections of these predictions (undo of a reject)."""
        ids = [int(i) for i in box_ids]
        with self.transaction():
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                self._q(f"DELETE FROM rejections WHERE box_id IN ({','.join('?' * len(chunk))})", chunk)

    def rejections(self, image_id: int, model: str | None = None) -> list[Box]:
        """The rejected predictions of an image (of one model identity when given), as boxes."""
        sql, params = "SELECT model, category_id, x1, y1, x2, y2 FROM rejections WHERE image_id = ?", [image_id]
        if model is not None:
            sql += " AND model = ?"
            params.append(model)
        return [Box(x1, y1, x2, y2, category_id=c, image_id=image_id, source=BoxSource.PREDICTED,
                    model_version=m or None) for m, c, x1, y1, x2, y2 in self._q(sql + " ORDER BY id", params)]

    def count_rejections(self) -> int:
        return self._q("SELECT COUNT(*) FROM rejections").fetchone()[0]

    # ------------------------------------------------------------------ provenance queries
    def corrected_image_ids(self) -> list[int]:
        """Images a person corrected: a drawn box, an edited prediction or a rejected prediction
        on them (display order). Images whose labels are all predictions accepted as they were
        are not corrected: training on them teaches the model its own opinion."""
        sql = ("SELECT id FROM images WHERE id IN (SELECT image_id FROM boxes WHERE source = 'manual' "
               "OR (source = 'accepted' AND edited = 1)) OR id IN (SELECT image_id FROM rejections) "
               "ORDER BY sort_key, frame_index, id")
        return [r[0] for r in self._q(sql)]

    # ------------------------------------------------------------------ class maps
    def class_map(self, key: str) -> tuple[str, dict[str, int | None]] | None:
        """``(model name, {model class: category id or None})`` remembered under ``key``."""
        row = self._q("SELECT model_name, mapping FROM class_maps WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            mapping = json.loads(row[1])
        except ValueError:
            return None
        if not isinstance(mapping, dict):
            return None
        return row[0], {str(k): (int(v) if isinstance(v, int) else None) for k, v in mapping.items()}

    def set_class_map(self, key: str, model_name: str, mapping: dict[str, int | None]) -> None:
        from rnxstudio.data.store_models import _now

        text = json.dumps(mapping, ensure_ascii=False)
        with self.transaction():
            self._q("INSERT INTO class_maps (key, model_name, mapping, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET model_name = excluded.model_name, mapping = excluded.mapping, "
                    "updated = excluded.updated", (key, model_name, text, _now()))

    def class_map_keys(self) -> list[str]:
        return [r[0] for r in self._q("SELECT key FROM class_maps ORDER BY key")]

    def retarget_class_maps(self, old_id: int, new_id: int | None) -> int:
        """Point every class-map entry that names category ``old_id`` at ``new_id`` (a merge);
        returns how many maps changed."""
        changed = 0
        with self.transaction():
            for key in self.class_map_keys():
                name, mapping = self.class_map(key) or ("", {})
                if old_id in mapping.values():
                    self.set_class_map(key, name, {k: (new_id if v == old_id else v) for k, v in mapping.items()})
                    changed += 1
        return changed
