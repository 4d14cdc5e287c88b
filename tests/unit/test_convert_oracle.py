"""The oracles: a tiny ResNeXt-FPN Faster R-CNN run by detectron2 itself
(tests/fixtures/detectron2/make_fixture.py) and one run by mmdetection's own code with
torchvision's RoIAlign and NMS kernels (tests/fixtures/mmdet/make_fixture.py: mmcv's compiled
ops were not built here) must give the same detections after conversion.

Same boxes within 0.5 px, scores within 1e-3, same classes, same count, on four images that are
up-scaled, down-scaled and capped at 1333 px. Each convention the converter adopts is also
switched back to torchvision's once, and the match must then break: the oracle can fail.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rnxstudio.ml.checkpoint import load_checkpoint
from rnxstudio.ml.convert.arch import ExternalArch, build_detector
from rnxstudio.ml.convert_weights import import_weights
from rnxstudio.ml.predict import Predictor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "detectron2"
REFERENCE = json.loads((FIXTURE / "detections.json").read_text())
MMDET_REFERENCE = json.loads((FIXTURES / "mmdet" / "detections.json").read_text())
BOX_PX, SCORE = 0.5, 1e-3


def unmatched(det, ref: dict) -> tuple[list[int], int]:
    """(oracle detections with no partner, our detections left over): one-to-one matching on
    class, box within BOX_PX and score within SCORE."""
    boxes, scores, classes = np.array(ref["boxes"]).reshape(-1, 4), np.array(ref["scores"]), np.array(ref["classes"])
    free = set(range(len(det)))
    missing = []
    for i in range(len(scores)):
        hit = next((j for j in sorted(free) if det.labels[j] - 1 == classes[i]
                    and np.abs(det.boxes[j] - boxes[i]).max() <= BOX_PX
                    and abs(float(det.scores[j]) - scores[i]) <= SCORE), None)
        if hit is None:
            missing.append(i)
        else:
            free.discard(hit)
    return missing, len(free)


def images(reference: dict = REFERENCE):
    for name, ref in reference["images"].items():
        rgb = np.asarray(Image.open(FIXTURE / "images" / name).convert("RGB"))
        assert [rgb.shape[1], rgb.shape[0]] == ref.get("size", [rgb.shape[1], rgb.shape[0]])
        yield name, rgb, ref


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("oracle") / "tiny.safetensors"
    path = import_weights(FIXTURE / "model_final_tiny.pkl", out, class_names=["a", "b", "c"])
    return load_checkpoint(path)


@pytest.mark.parametrize("optimize", ["none", pytest.param("auto", marks=pytest.mark.slow)])
def test_converted_detections_equal_detectron2s(converted, optimize):
    predictor = Predictor(converted, device="cpu", optimize=optimize)
    for name, rgb, ref in images():
        det = predictor.predict([rgb])[0]
        missing, extra = unmatched(det, ref)
        assert not missing and not extra, (f"{name} ({optimize}): detectron2 detections {missing} unmatched, "
                                           f"{extra} of ours left over")
        if name == "large_downscaled.png":  # the prefetch path (resize off the model thread) agrees
            prepared = predictor.predict_prepared([predictor.prepare(rgb)])[0]
            np.testing.assert_allclose(prepared.boxes, det.boxes, atol=1e-3)


@pytest.fixture(scope="module")
def converted_mmdet(tmp_path_factory):
    out = tmp_path_factory.mktemp("oracle_mm") / "tiny.safetensors"
    return load_checkpoint(import_weights(FIXTURES / "mmdet" / "faster_rcnn_tiny.pth", out))


def test_converted_detections_equal_mmdetections(converted_mmdet):
    assert converted_mmdet.class_names == ["cat", "dog", "fox"]  # from the file's dataset_meta
    ext = converted_mmdet.build_kwargs["external"]
    assert (ext["resize_style"], ext["postprocess"]) == ("cv2", "mmdet")
    predictor = Predictor(converted_mmdet, device="cpu", optimize="none")
    for name, rgb, ref in images(MMDET_REFERENCE):
        missing, extra = unmatched(predictor.predict([rgb])[0], ref)
        assert not missing and not extra, f"{name}: mmdetection detections {missing} unmatched, {extra} of ours left over"


def test_converted_checkpoint_records_the_conventions(converted):
    ext = converted.build_kwargs["external"]
    assert ext["anchor_style"] == "exact" and ext["roi_aligned"] is True and ext["roi_sampling_ratio"] == 0
    assert ext["resize_style"] == "pil" and ext["postprocess"] == "detectron2"
    assert (ext["blocks"], ext["groups"], ext["width_per_group"]) == ([3, 4, 6, 3], 4, 2)
    np.testing.assert_allclose(ext["image_mean"], [0.485, 0.456, 0.406], atol=1e-6)  # BGR mean, reversed
    imported = converted.info["extra"]["imported"]
    assert imported["framework"] == "detectron2" and imported["source_file"] == "model_final_tiny.pkl"
    assert imported["input_channels_swapped"] is True and len(imported["source_sha256"]) == 64


@pytest.mark.slow
@pytest.mark.parametrize("change", [
    {"resize_style": "torchvision"},
    {"anchor_style": "torchvision"},
    {"roi_aligned": False, "roi_sampling_ratio": 2},
], ids=["resize", "anchors", "roi_align"])
def test_each_convention_is_needed(converted, change):
    arch = dataclasses.replace(ExternalArch.from_dict(converted.build_kwargs["external"]), **change)
    model = build_detector(arch, num_classes=3, norm="frozen_bn", trainable_layers=0,
                           anchor_sizes=(32, 64, 128, 256, 512), min_size=800, max_size=1333,
                           score_thresh=0.05, nms_thresh=0.5, detections_per_img=100)
    model.load_state_dict(converted.model.state_dict())
    predictor = Predictor(dataclasses.replace(converted, model=model), device="cpu", optimize="none")
    lost = sum(len(unmatched(predictor.predict([rgb])[0], ref)[0]) for _, rgb, ref in images())
    assert lost > 100, f"torchvision's {change} still matched detectron2 ({lost} of 400 lost)"


@pytest.mark.slow
def test_mmdet_box_decoding_and_filtering_are_needed(converted_mmdet):
    """detectron2's filtering and torchvision's one-sided (dw, dh) clamp lose mmdetection's detections."""
    arch = dataclasses.replace(ExternalArch.from_dict(converted_mmdet.build_kwargs["external"]), postprocess="detectron2")
    model = build_detector(arch, num_classes=3, norm="frozen_bn", trainable_layers=0,
                           anchor_sizes=(32, 64, 128, 256, 512), min_size=800, max_size=1333,
                           score_thresh=0.05, nms_thresh=0.5, detections_per_img=100)
    model.load_state_dict(converted_mmdet.model.state_dict())
    predictor = Predictor(dataclasses.replace(converted_mmdet, model=model), device="cpu", optimize="none")
    lost = sum(len(unmatched(predictor.predict([rgb])[0], ref)[0]) for _, rgb, ref in images(MMDET_REFERENCE))
    assert lost > 0
