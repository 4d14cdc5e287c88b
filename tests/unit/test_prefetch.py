"""Prefetcher: order preserved, per-item errors, bounded look-ahead, cancel; prepare_image sizes."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from rnxstudio.ml.prefetch import Prefetcher, prepare_image, target_size


def test_order_is_kept_when_items_finish_out_of_order():
    def load(i: int) -> int:
        time.sleep(0.02 if i % 2 == 0 else 0.0)  # even items are slower
        return i * 10

    got = list(Prefetcher(range(12), load, workers=3))
    assert [f.index for f in got] == list(range(12))
    assert [f.value for f in got] == [i * 10 for i in range(12)]
    assert all(f.ok for f in got)


def test_errors_are_per_item_and_the_stream_goes_on():
    def load(i: int) -> int:
        if i in (1, 4):
            raise OSError(f"bad item {i}")
        return i

    got = list(Prefetcher(range(6), load, workers=2))
    assert [f.ok for f in got] == [True, False, True, True, False, True]
    assert "bad item 4" in str(got[4].error) and got[4].value is None and got[4].source == 4


def test_look_ahead_is_bounded_and_sources_are_lazy():
    started: list[int] = []
    lock = threading.Lock()

    def load(i: int) -> int:
        with lock:
            started.append(i)
        return i

    def endless():
        i = 0
        while True:
            yield i
            i += 1

    with Prefetcher(endless(), load, workers=2, depth=3) as pf:
        first = next(pf)
        time.sleep(0.05)
        assert first.value == 0
        assert len(started) <= 4  # the consumed one + at most depth in flight


def test_cancel_stops_and_drops_pending_work():
    stop = threading.Event()
    loaded: list[int] = []

    def load(i: int) -> int:
        time.sleep(0.01)
        loaded.append(i)
        return i

    seen = []
    for f in Prefetcher(range(100), load, workers=2, depth=4, cancel=stop):
        seen.append(f.index)
        if f.index == 2:
            stop.set()
    assert seen == [0, 1, 2]
    time.sleep(0.05)
    assert len(loaded) < 12  # nothing near the remaining 97 items was decoded


def test_close_is_idempotent_and_iteration_ends():
    pf = Prefetcher([1, 2, 3], lambda x: x)
    assert next(pf).value == 1
    pf.close()
    pf.close()
    with pytest.raises(StopIteration):
        next(pf)
    with pytest.raises(ValueError):
        Prefetcher([1], lambda x: x, workers=0)


@pytest.mark.parametrize("w,h", [(160, 64), (64, 160), (100, 100), (640, 480), (33, 1000)])
def test_prepare_image_matches_torchvision_sizes(w, h):
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    t = GeneralizedRCNNTransform(96, 128, [0.0] * 3, [1.0] * 3).eval()
    resized, _ = t.resize(torch.zeros(3, h, w))
    assert target_size(w, h, 96, 128) == (resized.shape[-1], resized.shape[-2])
    rgb = np.full((h, w, 3), 255, np.uint8)
    p = prepare_image(rgb, 96, 128)
    assert p.size == (w, h) and p.tensor.dtype == torch.float32
    assert tuple(p.tensor.shape) == (3, resized.shape[-2], resized.shape[-1])
    assert float(p.tensor.min()) == pytest.approx(1.0)
    sx, sy = p.scale_xy
    assert sx * p.tensor.shape[-1] == pytest.approx(w) and sy * p.tensor.shape[-2] == pytest.approx(h)
    with pytest.raises(ValueError):
        prepare_image(rgb[..., :2], 96, 128)
