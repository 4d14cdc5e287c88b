"""Inference: coordinates map back to original pixels, batching, the shared loop, cancel."""

from __future__ import annotations

import threading
import types

import numpy as np
import pytest
import torch
from PIL import Image

from rnxstudio.ml import zoo
from rnxstudio.ml.predict import Detections, Predictor, run_inference

SIZES = [(64, 160), (160, 64), (100, 100), (77, 131), (120, 90)]  # (h, w)


@pytest.fixture(scope="module")
def built() -> zoo.BuiltModel:
    torch.manual_seed(0)
    return zoo.build_model("resnext_tiny_fpn", num_classes=2, class_names=["circle", "square"],
                           min_size=96, max_size=128, score_thresh=0.0, allow_download=False)


@pytest.mark.parametrize("h,w", SIZES)
def test_transform_round_trip_maps_boxes_back(built, h, w):
    """Resize (as in training) then postprocess (as in inference) returns the original boxes."""
    t = built.model.transform
    t.eval()
    boxes = torch.tensor([[3.0, 5.0, w * 0.5, h * 0.75], [w * 0.2, h * 0.1, w - 1.0, h - 2.0]])
    images, targets = t([torch.rand(3, h, w)], [{"boxes": boxes.clone(), "labels": torch.tensor([1, 2])}])
    (rh, rw) = images.image_sizes[0]
    assert max(rh, rw) <= 128 and (min(rh, rw) == 96 or max(rh, rw) == 128)
    back = t.postprocess([{"boxes": targets[0]["boxes"]}], images.image_sizes, [(h, w)])[0]["boxes"]
    assert torch.allclose(back, boxes, atol=1e-3)


class _FixedRoiHeads(torch.nn.Module):
    """Stands in for roi_heads: one box at fixed fractions of each RESIZED, unpadded image."""

    FRAC = (0.25, 0.125, 0.75, 0.5)

    def forward(self, features, proposals, image_shapes, targets=None):
        out = []
        for rh, rw in image_shapes:
            fx1, fy1, fx2, fy2 = self.FRAC
            box = torch.tensor([[fx1 * rw, fy1 * rh, fx2 * rw, fy2 * rh]])
            out.append({"boxes": box, "scores": torch.tensor([0.9]), "labels": torch.tensor([2])})
        return out, {}


def test_detections_are_in_original_pixels_for_a_mixed_batch(built):
    """Different sizes in one padded batch: every box lands on its own image's pixels."""
    # swap the child by hand: monkeypatch's undo deletes attributes that live outside
    # __dict__ (nn.Module children live in _modules) under pytest >= 9, breaking the shared model
    real = built.model.roi_heads
    built.model.roi_heads = _FixedRoiHeads()
    try:
        dets = Predictor(built, device="cpu").predict([np.zeros((h, w, 3), np.uint8) for h, w in SIZES])
    finally:
        built.model.roi_heads = real
    assert len(dets) == len(SIZES)
    for (h, w), d in zip(SIZES, dets):
        fx1, fy1, fx2, fy2 = _FixedRoiHeads.FRAC
        assert d.image_size == (w, h)
        np.testing.assert_allclose(d.boxes[0], [fx1 * w, fy1 * h, fx2 * w, fy2 * h], atol=0.05)
        assert d.boxes.dtype == np.float32 and d.labels.dtype == np.int64
        assert d.names == ["square"]
        (b,) = d.to_boxes(category_ids=[10, 20], image_id=7)
        assert b.category_id == 20 and b.image_id == 7 and b.score == pytest.approx(0.9)


def test_batched_equals_one_by_one(built):
    """Same-size images: a batch gives what single calls give. (Mixed sizes are zero-padded to a
    common size in a batch, and GroupNorm statistics include the padding, so GN models' scores
    shift slightly there; box coordinates still map back per image, see the test above.)"""
    pred = Predictor(built, device="cpu")
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (100, 128, 3), dtype=np.uint8) for _ in range(3)]
    together = pred.predict(imgs)
    alone = [pred.predict([im])[0] for im in imgs]
    for a, b in zip(together, alone):
        assert len(a) == len(b) > 0
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)


def test_score_threshold_override_and_swap(built):
    pred = Predictor(built, device="cpu", score_thresh=0.99)
    assert built.model.roi_heads.score_thresh == 0.99
    other = zoo.build_model("resnext_tiny_fpn", num_classes=1, class_names=["ring"],
                            min_size=64, max_size=96, allow_download=False)
    pred.swap(other)
    assert pred.class_names == ["ring"] and other.model.roi_heads.score_thresh == 0.99
    d = pred.predict([np.zeros((50, 60, 3), np.uint8)])[0]
    assert d.class_names == ["ring"] and d.image_size == (60, 50)
    built.model.roi_heads.score_thresh = 0.0


def _write_png(path, h, w, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def test_run_inference_goes_on_after_a_broken_file(built, tmp_path):
    paths = []
    for i, (h, w) in enumerate(SIZES[:4]):
        p = tmp_path / f"img{i}.png"
        _write_png(p, h, w, i)
        paths.append(p)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    sources = [paths[0], paths[1], broken, paths[2], tmp_path / "missing.jpg", paths[3]]
    items = list(run_inference(sources, Predictor(built, device="cpu"), batch_size=2))
    assert [it.index for it in items] == list(range(6)) and all(it.total == 6 for it in items)
    assert [it.source for it in items] == sources
    assert [it.ok for it in items] == [True, True, False, True, False, True]
    assert "broken.png" in items[2].error and items[2].detections is None
    assert "missing.jpg" in items[4].error and "not found" in items[4].error
    for it, (h, w) in zip([items[0], items[1], items[3], items[5]], SIZES[:4]):
        assert isinstance(it.detections, Detections) and it.detections.image_size == (w, h)
    assert items[-1].images_per_s > 0 and items[-1].eta_s == 0


def test_run_inference_cancel(built):
    stop = threading.Event()
    imgs = [np.zeros((40, 50, 3), np.uint8)] * 5
    seen = []
    for it in run_inference(imgs, Predictor(built, device="cpu"), cancel=stop):
        seen.append(it.index)
        stop.set()
    assert seen == [0]
    calls = iter([False, False, True])
    got = list(run_inference(imgs, Predictor(built, device="cpu"), batch_size=2, cancel=lambda: next(calls)))
    assert [it.index for it in got] == [0, 1, 2, 3]


def test_run_inference_reads_video_frames(built, monkeypatch):
    opened = []

    class FakeReader:
        def __init__(self, path):
            opened.append(str(path))
            self.frame_count = 3

        def read(self, i):
            if i >= self.frame_count:
                raise IndexError(f"frame {i} out of range")
            return np.full((48, 64, 3), i * 40, np.uint8)

    monkeypatch.setitem(__import__("sys").modules, "rnxstudio.data.video",
                        types.SimpleNamespace(VideoReader=FakeReader))
    src = [("clip.mp4", 0), ("clip.mp4", 2), ("clip.mp4", 5)]
    items = list(run_inference(src, Predictor(built, device="cpu")))
    assert opened == ["clip.mp4"]  # one reader for all frames
    assert items[0].detections.image_size == (64, 48) and items[1].ok
    assert not items[2].ok and "clip.mp4 frame 5" in items[2].error


def test_amp_and_device_settings():
    from rnxstudio.ml.devices import DeviceError, available_devices, pick_device
    from rnxstudio.ml.predict import _amp_dtype

    cpu = torch.device("cpu")
    assert pick_device("cpu") == cpu and available_devices()[-1][0] == "cpu"
    assert _amp_dtype(None, cpu) is None and _amp_dtype(None, torch.device("cuda", 0)) is torch.float16
    assert _amp_dtype("bf16", cpu) is torch.bfloat16 and _amp_dtype(False, cpu) is None
    with pytest.raises(ValueError):
        _amp_dtype("fp8", cpu)
    with pytest.raises(DeviceError):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            pick_device("cuda:0")
        assert pick_device("auto").type in ("cpu", "mps")
