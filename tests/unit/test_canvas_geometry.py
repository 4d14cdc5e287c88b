"""Pure canvas geometry: moves keep size and stay inside; resizes never flip or leave the image."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnxstudio.core.model import MIN_BOX_SIZE
from rnxstudio.core import geometry as geo

W, H = 200.0, 120.0
coord = st.floats(-500, 500, allow_nan=False, allow_infinity=False)


@st.composite
def boxes(draw):
    x1 = draw(st.floats(0, W - MIN_BOX_SIZE))
    y1 = draw(st.floats(0, H - MIN_BOX_SIZE))
    x2 = draw(st.floats(x1 + MIN_BOX_SIZE, W))
    y2 = draw(st.floats(y1 + MIN_BOX_SIZE, H))
    return (x1, y1, x2, y2)


def inside(b, eps=1e-9):
    return -eps <= b[0] and -eps <= b[1] and b[2] <= W + eps and b[3] <= H + eps


@given(boxes(), coord, coord)
def test_move_keeps_size_and_stays_inside(box, dx, dy):
    m = geo.moved(box, dx, dy, W, H)
    assert inside(m)
    assert m[2] - m[0] == pytest.approx(box[2] - box[0], abs=1e-6)
    assert m[3] - m[1] == pytest.approx(box[3] - box[1], abs=1e-6)


@given(boxes(), st.sampled_from(geo.HANDLES), coord, coord)
def test_resize_stays_inside_with_min_size(box, handle, x, y):
    r = geo.resized(box, handle, x, y, W, H)
    assert inside(r)
    assert r[2] - r[0] >= MIN_BOX_SIZE - 1e-9 and r[3] - r[1] >= MIN_BOX_SIZE - 1e-9
    # edges not under the handle do not move
    if "l" not in handle and "r" not in handle:
        assert (r[0], r[2]) == (box[0], box[2])
    if "t" not in handle and "b" not in handle:
        assert (r[1], r[3]) == (box[1], box[3])


def test_resize_examples():
    assert geo.resized((10, 10, 50, 50), "br", 70, 80, W, H) == (10, 10, 70, 80)
    assert geo.resized((10, 10, 50, 50), "tl", 60, 60, W, H) == (49, 49, 50, 50)
    assert geo.resized((10, 10, 50, 50), "r", 500, 0, W, H) == (10, 10, W, 50)
    with pytest.raises(ValueError, match="unknown handle"):
        geo.resized((10, 10, 50, 50), "middle", 0, 0, W, H)


def test_clipped_and_normalized():
    assert geo.normalized((50, 10), (10, 40)) == (10, 10, 50, 40)
    assert geo.clipped((-20, -5, 30, 300), W, H) == (0, 0, 30, H)
    assert geo.clipped((10, 10, 10.5, 40), W, H) is None
    assert geo.clipped((300, 10, 400, 40), W, H) is None


def test_handle_points_and_contains():
    pts = geo.handle_points((0, 0, 10, 20))
    assert pts["tl"] == (0, 0) and pts["br"] == (10, 20) and pts["r"] == (10, 10) and pts["t"] == (5, 0)
    assert geo.contains((0, 0, 10, 10), 10.5, 5, tolerance=1.0)
    assert not geo.contains((0, 0, 10, 10), 12, 5, tolerance=1.0)
