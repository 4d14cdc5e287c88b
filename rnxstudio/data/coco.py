"""COCO detection JSON: the one import point for reading (``coco_read``) and writing (``coco_write``).

Coordinates: COCO ``bbox`` is ``[x, y, width, height]`` in pixels with (0, 0) the top-left
corner of the top-left pixel — the same frame as :class:`rnxstudio.core.model.Box`, so the
conversion is ``x2 = x + w`` with no half-pixel shift. Floats are written with Python's
shortest round-trip repr, and an unedited box is written with the ``bbox`` it was read with, so a
read/write round trip is exact. What a file says beyond boxes (ids, crowd regions, polygons,
attributes, licenses, ...) is kept and written back: see ``coco_read`` / ``coco_write`` and
docs/formats.md.
"""

from __future__ import annotations

import json  # noqa: F401 (tests patch coco.json.dump to inject write failures)

from rnxstudio.data.coco_read import from_coco_dict, read_coco
from rnxstudio.data.coco_write import to_coco_dict, write_coco
from rnxstudio.data.errors import LabelFormatError

__all__ = ["write_coco", "read_coco", "to_coco_dict", "from_coco_dict", "LabelFormatError"]
