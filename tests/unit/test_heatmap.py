"""Heatmap reductions, normalisation, image mapping and colouring on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from rnxstudio.ml.introspect import heatmap as hm


@pytest.fixture
def fmap() -> np.ndarray:
    d = np.zeros((3, 2, 2), np.float32)
    d[0] = [[1, -5], [0, 2]]  # mean -0.5
    d[1] = [[3, 3], [3, 3]]  # mean 3
    d[2] = [[0, 4], [-1, 1]]  # mean 1
    return d


def test_mean_max_l2_channel(fmap):
    np.testing.assert_allclose(hm.reduce_mean(fmap), [[4 / 3, 2 / 3], [2 / 3, 2]], rtol=1e-6)
    np.testing.assert_allclose(hm.reduce_max_abs(fmap), [[3, 5], [3, 3]])
    np.testing.assert_allclose(hm.reduce_l2(fmap), np.sqrt([[10, 50], [10, 14]]), rtol=1e-6)
    np.testing.assert_array_equal(hm.select_channel(fmap, 2), fmap[2])
    np.testing.assert_array_equal(hm.reduce(fmap, "channel", channel=0), fmap[0])
    np.testing.assert_array_equal(hm.reduce(fmap, "max"), hm.reduce_max_abs(fmap))
    with pytest.raises(IndexError, match="0..2"):
        hm.select_channel(fmap, 3)
    with pytest.raises(ValueError, match="unknown reduction"):
        hm.reduce(fmap, "median")
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        hm.reduce_mean(fmap[0])


def test_top_k_order_and_clipping(fmap):
    idx, maps = hm.top_k_channels(fmap, 2)
    assert idx.tolist() == [1, 2]
    np.testing.assert_array_equal(maps, fmap[[1, 2]])
    idx, _ = hm.top_k_channels(fmap, 10)
    assert idx.tolist() == [1, 2, 0]
    ties = np.ones((4, 1, 1), np.float32)
    assert hm.top_k_channels(ties, 4)[0].tolist() == [0, 1, 2, 3]  # stable on ties


def test_topk_grid_layout(fmap):
    grid, idx = hm.topk_grid(fmap, k=3, pad=1)
    assert idx.tolist() == [1, 2, 0]
    assert hm.grid_shape(3) == (2, 2)
    assert grid.shape == (2 * 2 + 1, 2 * 2 + 1)
    np.testing.assert_allclose(grid[0:2, 3:5], hm.normalize(fmap[2]))  # 2nd tile = channel 2
    np.testing.assert_allclose(grid[0:2, 0:2], 0.0)  # channel 1 is constant -> zeros
    assert grid[2, :].max() == 0 and grid[:, 2].max() == 0  # gaps


def test_normalize():
    out = hm.normalize(np.array([[2.0, 4.0], [6.0, np.nan]]))
    np.testing.assert_allclose(out, [[0, 0.5], [1, 0]])
    assert out.dtype == np.float32
    assert not hm.normalize(np.full((3, 3), 7.0)).any()
    assert not hm.normalize(np.full((2, 2), np.nan)).any()


def test_to_image_places_cells_where_they_belong():
    # original 40x60, model scale 0.8 -> resized 32x48, padded to 64x64; stride 8 -> 8x8 map
    heat = np.zeros((8, 8), np.float32)
    heat[1, 2] = 1.0  # cell covers resized [8,16)x[16,24) -> original rows [10,20), cols [20,30)
    out = hm.to_image(heat, (8, 8), (0.8, 0.8), (40, 60))
    assert out.shape == (40, 60)
    r, c = np.unravel_index(out.argmax(), out.shape)
    assert 10 <= r < 20 and 20 <= c < 30
    assert out[:, 40:].max() == 0  # far from the hot cell


def test_to_image_drops_padding():
    # resized 32x48 in a 64x64 batch; map columns >= 7 (x >= 56) lie wholly in the padding
    heat = np.zeros((8, 8), np.float32)
    heat[:, 7] = 1.0
    heat[5:, :] = 1.0  # rows >= 5 (y >= 40) are padding too
    out = hm.to_image(heat, (8, 8), (0.8, 0.8), (40, 60))
    assert out.max() == 0.0


def test_feature_cell():
    assert hm.feature_cell(25, 15, (8, 8), (0.8, 0.8), (8, 8)) == (1, 2)
    assert hm.feature_cell(1000, 0, (8, 8), (1.0, 1.0), (8, 8)) is None


def test_colorize_and_overlay():
    ramp = np.linspace(0, 1, 256, dtype=np.float32).reshape(1, 256).repeat(4, 0)
    for cmap in ("viridis", "jet", "turbo", "gray"):
        rgb = hm.colorize(ramp, cmap)
        assert rgb.shape == (4, 256, 3) and rgb.dtype == np.uint8
        assert not np.array_equal(rgb[0, 0], rgb[0, -1])
    jet = hm.colorize(ramp, "jet")
    assert jet[0, -1, 0] > jet[0, -1, 2]  # hot end is red: RGB order, not OpenCV's BGR
    assert jet[0, 0, 2] > jet[0, 0, 0]  # cold end blue
    with pytest.raises(ValueError, match="colormap"):
        hm.colorize(ramp, "rainbow-unicorn")
    img = np.full((4, 256, 3), 100, np.uint8)
    np.testing.assert_array_equal(hm.overlay(img, ramp, 0.0), img)
    np.testing.assert_array_equal(hm.overlay(img, ramp, 1.0, "jet"), jet)
    half = hm.overlay(img, ramp, 0.5, "jet").astype(int)
    assert np.abs(half - (img.astype(int) + jet.astype(int)) / 2).max() <= 1
    with pytest.raises(ValueError, match="does not match"):
        hm.overlay(img, ramp[:, :10], 0.5)


def test_stage_heatmap_range():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(8, 5, 7)).astype(np.float32)
    out = hm.stage_heatmap(data, (4, 4), (1.0, 1.0), (20, 28), "l2")
    assert out.shape == (20, 28) and out.min() >= 0 and out.max() <= 1
