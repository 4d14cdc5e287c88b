"""Offline backbone weights: never hang, warn with the exact cache path, use the cache when present."""

from __future__ import annotations

import time

import pytest
import torch

from rnxstudio.ml import backbones, zoo


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A private, empty torch hub dir (the real cache is never touched)."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_no_cache_no_download_warns_fast(empty_hub, monkeypatch):
    monkeypatch.setenv("RNXSTUDIO_NO_DOWNLOAD", "1")
    t0 = time.perf_counter()
    built = zoo.build_model("resnext50_32x4d_fpn", num_classes=2, pretrained_backbone=True,
                            min_size=64, max_size=96)
    assert time.perf_counter() - t0 < 30  # building a 41 M model on a busy 2-core box; no waiting
    assert built.weights_origin == "random" and built.norm == "gn"
    (warning,) = built.warnings
    expected = empty_hub / "checkpoints" / "resnext50_32x4d-1a0047aa.pth"
    assert str(expected) in warning and "resnext50_32x4d-1a0047aa.pth" in warning
    assert "--backbone-weights FILE" in warning and "RANDOM" in warning


def test_download_attempt_is_bounded_when_offline(empty_hub, monkeypatch):
    """Downloads allowed but the host is unreachable: the probe gives up within seconds."""
    monkeypatch.delenv("RNXSTUDIO_NO_DOWNLOAD", raising=False)
    calls = []

    def fake_probe(url, timeout=backbones.PROBE_TIMEOUT_S):
        calls.append(url)
        time.sleep(0.05)
        return False

    monkeypatch.setattr(backbones, "_host_reachable", fake_probe)
    built = zoo.build_model("resnet50_fpn", num_classes=1, min_size=64, max_size=96)
    assert calls == ["https://download.pytorch.org/models/resnet50-11ad3fa6.pth"]
    assert built.weights_origin == "random" and "not reachable" in built.warnings[0]


def test_real_probe_never_hangs():
    """The real probe against an unroutable address returns within its timeout (+ slack)."""
    t0 = time.perf_counter()
    ok = backbones._host_reachable("https://10.255.255.1:9/x", timeout=1.0)
    assert time.perf_counter() - t0 < 3.0
    assert ok is False


def test_allow_download_false_beats_env(empty_hub, monkeypatch):
    monkeypatch.setenv("RNXSTUDIO_NO_DOWNLOAD", "0")
    monkeypatch.setattr(backbones, "_host_reachable", lambda *a, **k: pytest.fail("must not probe"))
    built = zoo.build_model("resnet50_fpn", num_classes=1, allow_download=False, min_size=64, max_size=96)
    assert "downloads disabled" in built.warnings[0]


def test_cached_file_is_used(empty_hub, monkeypatch):
    from torchvision.models import resnet50

    monkeypatch.setenv("RNXSTUDIO_NO_DOWNLOAD", "1")
    ref = resnet50(weights=None)
    with torch.no_grad():
        ref.layer4[0].conv2.weight.fill_(0.5)
    target = empty_hub / "checkpoints" / "resnet50-11ad3fa6.pth"
    target.parent.mkdir(parents=True)
    torch.save(ref.state_dict(), target)
    built = zoo.build_model("resnet50_fpn", num_classes=1, min_size=64, max_size=96)
    assert built.weights_origin == "pretrained-backbone" and built.norm == "frozen_bn"
    assert built.warnings == []
    assert torch.all(built.model.backbone.body.layer4[0].conv2.weight == 0.5)


def test_damaged_cache_file_falls_back_with_warning(empty_hub, monkeypatch):
    monkeypatch.setenv("RNXSTUDIO_NO_DOWNLOAD", "1")
    target = empty_hub / "checkpoints" / "resnet50-11ad3fa6.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"PK\x03\x04 truncated")
    built = zoo.build_model("resnet50_fpn", num_classes=1, min_size=64, max_size=96)
    assert built.weights_origin == "random" and "unreadable" in built.warnings[0]


def test_coco_weights_from_cache_and_fallback(empty_hub, monkeypatch):
    """torchvision's COCO detector loads from the hub cache; without it the build falls back."""
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    monkeypatch.setenv("RNXSTUDIO_NO_DOWNLOAD", "1")
    missing = zoo.build_model("resnet50_fpn", num_classes=2, coco_weights=True, min_size=64, max_size=96)
    assert missing.weights_origin == "random" and "COCO weights not available" in missing.warnings[0]
    with pytest.raises(ValueError, match="no COCO-trained weights"):
        zoo.build_model("resnext_tiny_fpn", num_classes=2, coco_weights=True)

    torch.manual_seed(0)
    tv = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    target = empty_hub / "checkpoints" / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
    target.parent.mkdir(parents=True)
    torch.save(tv.state_dict(), target)
    built = zoo.build_model("resnet50_fpn", num_classes=90, coco_weights=True, min_size=64, max_size=96)
    assert built.weights_origin == "coco" and built.norm == "frozen_bn" and built.warnings == []
    assert built.class_names[0] == "person" and len(built.class_names) == 90
    assert built.category_ids[:3] == [1, 2, 3]
    assert torch.equal(built.model.backbone.body.conv1.weight, tv.backbone.body.conv1.weight)
    mine = zoo.build_model("resnet50_fpn", num_classes=2, class_names=["cat", "dog"], coco_weights=True,
                           min_size=64, max_size=96)
    assert mine.class_names == ["cat", "dog"] and mine.model.roi_heads.box_predictor.cls_score.out_features == 3
    assert torch.equal(mine.model.rpn.head.conv[0][0].weight, tv.rpn.head.conv[0][0].weight)
