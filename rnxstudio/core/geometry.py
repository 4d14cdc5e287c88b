"""Pure box geometry of the canvas tools (no Qt): move, resize, handles, clamping.

All coordinates are image pixels ``(x1, y1, x2, y2)`` with ``x1 < x2`` and ``y1 < y2``.
Every function returns a box that lies inside ``[0, width] x [0, height]`` and is at least
:data:`rnxstudio.core.model.MIN_BOX_SIZE` wide and high (as long as the image itself is).
"""

from __future__ import annotations

from rnxstudio.core.model import MIN_BOX_SIZE, InvalidBoxError, clip_xyxy

XYXY = tuple[float, float, float, float]

# Handle names in drawing order. Corners first so they win hit tests on tiny boxes.
HANDLES: tuple[str, ...] = ("tl", "tr", "br", "bl", "t", "r", "b", "l")


def normalized(a: tuple[float, float], b: tuple[float, float]) -> XYXY:
    """The box spanned by two corner points, in any order."""
    x1, x2 = sorted((a[0], b[0]))
    y1, y2 = sorted((a[1], b[1]))
    return (x1, y1, x2, y2)


def clamp_point(x: float, y: float, width: float, height: float) -> tuple[float, float]:
    return (min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height)))


def handle_points(box: XYXY) -> dict[str, tuple[float, float]]:
    """The 8 handle positions of ``box`` keyed by name (see :data:`HANDLES`)."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    return {
        "tl": (x1, y1), "tr": (x2, y1), "br": (x2, y2), "bl": (x1, y2),
        "t": (cx, y1), "r": (x2, cy), "b": (cx, y2), "l": (x1, cy),
    }


def moved(box: XYXY, dx: float, dy: float, width: float, height: float) -> XYXY:
    """``box`` translated by (dx, dy), the translation reduced so the box stays in the image.

    The size never changes (a move is never a silent resize).
    """
    x1, y1, x2, y2 = box
    dx = min(max(dx, -x1), float(width) - x2)
    dy = min(max(dy, -y1), float(height) - y2)
    return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)


def resized(box: XYXY, handle: str, x: float, y: float, width: float, height: float) -> XYXY:
    """``box`` with the edges under ``handle`` moved to the point (x, y).

    The dragged edges are clamped to the image and stop ``MIN_BOX_SIZE`` short of the opposite
    edge (edges never cross, so the handle under the cursor stays the same handle).
    """
    if handle not in HANDLES:
        raise ValueError(f"unknown handle {handle!r}; expected one of {HANDLES}")
    x, y = clamp_point(x, y, width, height)
    x1, y1, x2, y2 = box
    if "l" in handle:
        x1 = min(x, x2 - MIN_BOX_SIZE)
    if "r" in handle:
        x2 = max(x, x1 + MIN_BOX_SIZE)
    if "t" in handle:
        y1 = min(y, y2 - MIN_BOX_SIZE)
    if "b" in handle:
        y2 = max(y, y1 + MIN_BOX_SIZE)
    return clipped((x1, y1, x2, y2), width, height) or box


def clipped(box: XYXY, width: float, height: float) -> XYXY | None:
    """``box`` clipped to the image by the one clip rule (core.model.clip_xyxy), or None when
    less than MIN_BOX_SIZE remains."""
    try:
        return clip_xyxy(*box, width, height)
    except InvalidBoxError:
        return None


def contains(box: XYXY, x: float, y: float, tolerance: float = 0.0) -> bool:
    x1, y1, x2, y2 = box
    t = tolerance
    return x1 - t <= x <= x2 + t and y1 - t <= y <= y2 + t


def area(box: XYXY) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])
