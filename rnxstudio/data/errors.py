"""Typed errors for label files (COCO / VOC / YOLO).

A label file is validated completely before anything is built from it, and every problem
found goes into one :class:`LabelFormatError`, so the user sees what is wrong in one go and
nothing is ever partially imported. (:class:`rnxstudio.data.images.ImageLoadError` covers
pixel files.)
"""

from __future__ import annotations

import os

MAX_LISTED_PROBLEMS = 10
"""How many problems the error message spells out; the rest are counted."""


class LabelFormatError(ValueError):
    """A label file that cannot be imported.

    ``path`` names the file (or folder), ``problems`` lists every problem found, each a short
    sentence that locates it (e.g. ``"annotations[3].bbox: width -2 is negative"``).
    """

    def __init__(self, path: str | os.PathLike, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems) or ["unknown problem"]
        super().__init__(self._message())

    def _message(self) -> str:
        shown = self.problems[:MAX_LISTED_PROBLEMS]
        n = len(self.problems)
        head = f"{self.path}: {n} problem{'s' if n != 1 else ''}"
        if n == 1:
            return f"{self.path}: {shown[0]}"
        lines = [head + ":"] + [f"  - {p}" for p in shown]
        if n > len(shown):
            lines.append(f"  ... and {n - len(shown)} more")
        return "\n".join(lines)

    @property
    def summary(self) -> str:
        """One line for a status bar or a CLI error: the file and the first problem."""
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"{self.path}: {self.problems[0]}{more}"
