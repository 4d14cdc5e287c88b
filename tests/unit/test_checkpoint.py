"""Checkpoints: round trip, class map, refusal of pickles/corruption/mismatch, torchvision dicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnxstudio.ml import zoo
from rnxstudio.ml.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, sidecar_path

SMALL = dict(min_size=96, max_size=128, allow_download=False)


def _tiny(classes=("circle", "square", "star")) -> zoo.BuiltModel:
    torch.manual_seed(0)
    built = zoo.build_model("resnext_tiny_fpn", num_classes=len(classes), class_names=list(classes),
                            score_thresh=0.0, **SMALL)
    return built


def _run(built: zoo.BuiltModel, x: torch.Tensor) -> dict:
    built.model.eval()
    with torch.inference_mode():
        return built.model([x])[0]


def test_round_trip_identical_outputs_and_class_map(tmp_path):
    built = _tiny()
    x = torch.rand(3, 90, 120, generator=torch.Generator().manual_seed(1))
    ref = _run(built, x)
    assert len(ref["scores"]) > 0
    p = save_checkpoint(tmp_path / "m", built, recipe={"lr": 0.01}, metrics={"map": 0.5},
                        parent="base.safetensors", category_ids=[3, 7, 9])
    assert p.suffix == ".safetensors" and p.is_file() and sidecar_path(p).is_file()
    meta = json.loads(sidecar_path(p).read_text())
    assert meta["model"] == "resnext_tiny_fpn" and meta["norm"] == "gn"
    assert [c["name"] for c in meta["classes"]] == ["circle", "square", "star"]
    assert [c["category_id"] for c in meta["classes"]] == [3, 7, 9]
    assert meta["recipe"] == {"lr": 0.01} and meta["parent"] == "base.safetensors"
    assert meta["created"].endswith("+00:00") and meta["rnxstudio_version"]

    loaded = load_checkpoint(p)
    assert loaded.class_names == ["circle", "square", "star"]
    assert loaded.category_ids == [3, 7, 9]
    assert loaded.weights_origin == f"checkpoint:{p}"
    assert not loaded.is_random and loaded.info["metrics"] == {"map": 0.5}
    out = _run(loaded, x)
    for k in ("boxes", "scores", "labels"):
        assert torch.equal(out[k], ref[k]), k
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_sidecar_extra_keys_are_ignored(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", _tiny(), extra={"optimizer": "opt.pt"})
    meta = json.loads(sidecar_path(p).read_text())
    meta["trainer_state"] = {"epoch": 3}
    meta["build_kwargs"]["future_option"] = 1
    sidecar_path(p).write_text(json.dumps(meta))
    assert load_checkpoint(p).class_names == ["circle", "square", "star"]


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    canary = tmp_path / "canary.txt"

    class Evil:
        def __reduce__(self):
            return (Path.write_text, (canary, "pwned"))

    p = tmp_path / "evil.pth"
    torch.save({"model": Evil()}, p)
    with pytest.raises(CheckpointError, match="refused: the file contains pickled Python objects"):
        load_checkpoint(p, model_name="resnext_tiny_fpn")
    assert not canary.exists()


def test_whole_pickled_model_is_refused(tmp_path):
    p = tmp_path / "whole.pt"
    torch.save(torch.nn.Linear(2, 2), p)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(p, model_name="resnext_tiny_fpn")


def test_truncated_files(tmp_path):
    built = _tiny()
    p = save_checkpoint(tmp_path / "m.safetensors", built)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt"):
        load_checkpoint(p)
    # same, with the sidecar gone but names supplied: the safetensors parser reports it
    sidecar_path(p).unlink()
    with pytest.raises(CheckpointError, match="truncated or corrupt safetensors"):
        load_checkpoint(p, model_name="resnext_tiny_fpn", class_names=["a", "b", "c"])
    pth = tmp_path / "m.pth"
    torch.save(built.model.state_dict(), pth)
    raw = pth.read_bytes()
    pth.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(CheckpointError, match="truncated or corrupt file"):
        load_checkpoint(pth, model_name="resnext_tiny_fpn")


def test_missing_sidecar_message(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", _tiny())
    sidecar_path(p).unlink()
    with pytest.raises(CheckpointError, match=r"no sidecar m\.json"):
        load_checkpoint(p)
    ok = load_checkpoint(p, model_name="resnext_tiny_fpn", class_names=["a", "b", "c"])
    assert ok.class_names == ["a", "b", "c"]


def test_wrong_class_count_message(tmp_path):
    pth = tmp_path / "m.pth"
    torch.save(_tiny().model.state_dict(), pth)
    with pytest.raises(CheckpointError, match=r"expected 2 classes \(a, b\), checkpoint has 3"):
        load_checkpoint(pth, model_name="resnext_tiny_fpn", class_names=["a", "b"])


def test_architecture_mismatch_message(tmp_path):
    pth = tmp_path / "m.pth"
    state = _tiny().model.state_dict()
    state.pop("rpn.head.conv.0.0.weight")
    state["extra.layer.weight"] = torch.zeros(1)
    torch.save(state, pth)
    with pytest.raises(CheckpointError, match="architecture mismatch: missing keys 1 .*unexpected keys 1"):
        load_checkpoint(pth, model_name="resnext_tiny_fpn")
    with pytest.raises(CheckpointError, match="architecture mismatch|not a Faster R-CNN"):
        load_checkpoint(pth, model_name="resnet50_fpn")


@pytest.mark.slow
def test_torchvision_state_dict_loads(tmp_path):
    """torchvision's own fasterrcnn_resnet50_fpn state dict loads as our resnet50_fpn."""
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    torch.manual_seed(0)
    tv = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=3,
                                 min_size=96, max_size=128).eval()
    pth = tmp_path / "tv.pth"
    torch.save(tv.state_dict(), pth)
    built = load_checkpoint(pth, model_name="resnet50_fpn", class_names=["cat", "dog"])
    assert built.norm == "bn"  # torchvision uses BatchNorm without pretrained weights
    x = torch.rand(3, 96, 128)
    built.model.transform.min_size, built.model.transform.max_size = (96,), 128
    with torch.inference_mode():
        a, b = tv([x])[0], built.model([x])[0]
    assert torch.allclose(a["scores"], b["scores"]) and torch.allclose(a["boxes"], b["boxes"])


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(CheckpointError, match="file not found"):
        load_checkpoint(tmp_path / "nope.safetensors")
    q = tmp_path / "w.onnx"
    q.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="unknown checkpoint type"):
        load_checkpoint(q)
