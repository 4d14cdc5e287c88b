"""Converting detectron2 / mmdetection files: nothing in them runs, and every tensor is accounted
for by name (unknown, missing, mis-shaped and non-numeric tensors are refused, naming the key)."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from rnxstudio.ml.convert import keymap
from rnxstudio.ml.convert_weights import ConversionError, import_weights
from rnxstudio.ml.convert.safe_pickle import UnsafePickleError, load_detectron2_pkl, safe_load_pickle

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "detectron2" / "model_final_tiny.pkl"


@pytest.fixture(scope="module")
def d2_state():
    state, _ = load_detectron2_pkl(FIXTURE)
    return state


def write_pkl(path: Path, state: dict, protocol: int = 2) -> Path:
    with open(path, "wb") as f:
        pickle.dump({"model": state, "__author__": "test"}, f, protocol=protocol)
    return path


class Canary:
    """Unpickling this would create the file ``target`` (it never may)."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (exec, (f"open({str(self.target)!r}, 'w').write('ran')",))


@pytest.mark.parametrize("where", ["top", "inside_model"])
def test_a_pickle_that_runs_code_is_refused_and_never_runs(tmp_path, d2_state, where):
    canary = tmp_path / "canary.txt"
    payload = {"model": dict(d2_state)}
    if where == "top":
        payload["__author__"] = Canary(canary)
    else:
        payload["model"]["backbone.evil"] = Canary(canary)
    bad = tmp_path / "model_final_bad.pkl"
    bad.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(ConversionError, match=r"(__builtin__|builtins)\.exec.*nothing from it was executed"):
        import_weights(bad, tmp_path / "out.safetensors")
    assert not canary.exists()
    assert not (tmp_path / "out.safetensors").exists()


def test_the_unpickler_allows_only_what_numpy_arrays_need():
    for protocol in (2, 3, 4, 5):
        data = pickle.dumps({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.float32(2.5)}, protocol=protocol)
        out = safe_load_pickle(data)
        np.testing.assert_array_equal(out["a"], np.arange(6, dtype=np.float32).reshape(2, 3))
    for forbidden in (b"cos\nsystem\n(S'true'\ntR.", b"cbuiltins\neval\n(S'1'\ntR.",
                      b"cnumpy\nload\n(S'x'\ntR.", b"ctorch\nload\n(S'x'\ntR."):
        with pytest.raises(UnsafePickleError, match="refused"):
            safe_load_pickle(forbidden)


def test_object_arrays_are_refused_by_name(tmp_path, d2_state):
    state = dict(d2_state)
    state["roi_heads.box_head.fc1.bias"] = np.array([1, "x"], dtype=object)
    with pytest.raises(ConversionError, match="refused: arrays of dtype object"):
        import_weights(write_pkl(tmp_path / "m.pkl", state), tmp_path / "o.safetensors")


def test_unknown_tensor_is_refused_by_name(tmp_path, d2_state):
    state = dict(d2_state)
    state["roi_heads.mask_head.mask_fcn1.weight"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ConversionError, match=r"unknown tensor names.*roi_heads\.mask_head\.mask_fcn1\.weight"):
        import_weights(write_pkl(tmp_path / "m.pkl", state), tmp_path / "o.safetensors")


@pytest.mark.parametrize("key", ["backbone.bottom_up.res3.1.conv2.weight", "backbone.bottom_up.res4.2.conv1.norm.running_var",
                                 "proposal_generator.rpn_head.conv.bias", "backbone.fpn_output4.weight"])
def test_missing_tensor_is_refused_by_its_detectron2_name(tmp_path, d2_state, key):
    state = {k: v for k, v in d2_state.items() if k != key}
    with pytest.raises(ConversionError, match=rf"missing tensors {key.replace('.', '[.]')}"):
        import_weights(write_pkl(tmp_path / "m.pkl", state), tmp_path / "o.safetensors")


def test_misshaped_tensor_is_refused_by_name(tmp_path, d2_state):
    state = dict(d2_state)
    key = "backbone.bottom_up.res4.3.conv3.weight"
    state[key] = np.zeros((state[key].shape[0], state[key].shape[1] + 1, 1, 1), np.float32)
    with pytest.raises(ConversionError, match=rf"{key.replace('.', '[.]')} has shape"):
        import_weights(write_pkl(tmp_path / "m.pkl", state), tmp_path / "o.safetensors")
    state = dict(d2_state)
    state["roi_heads.box_predictor.bbox_pred.weight"] = state["roi_heads.box_predictor.bbox_pred.weight"][:8]
    with pytest.raises(ConversionError, match="bbox_pred has 8 rows; expected 4 x 3 classes"):
        import_weights(write_pkl(tmp_path / "m.pkl", state), tmp_path / "o.safetensors")


def test_head_layout_background_first_and_padded_regression():
    w = torch.arange(4.0).view(4, 1)  # 3 classes + background last
    reg = torch.arange(12.0).view(12, 1)
    state = {"roi_heads.box_predictor.cls_score.weight": w, "roi_heads.box_predictor.cls_score.bias": w[:, 0],
             "roi_heads.box_predictor.bbox_pred.weight": reg, "roi_heads.box_predictor.bbox_pred.bias": reg[:, 0]}
    assert keymap.head_to_torchvision(state, "x") == 3
    assert state["roi_heads.box_predictor.cls_score.bias"].tolist() == [3.0, 0.0, 1.0, 2.0]
    assert state["roi_heads.box_predictor.bbox_pred.bias"].tolist() == [0.0] * 4 + list(range(12))


def test_truncated_and_foreign_files_get_clear_errors(tmp_path):
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(FIXTURE.read_bytes()[:5000])
    with pytest.raises(ConversionError, match="not a detectron2 checkpoint"):
        import_weights(cut, tmp_path / "o.safetensors")
    blobs = write_pkl(tmp_path / "b.pkl", {})
    blobs.write_bytes(pickle.dumps({"blobs": {"conv1_w": np.zeros(3, np.float32)}}, protocol=2))
    with pytest.raises(ConversionError, match="Detectron1"):
        import_weights(blobs, tmp_path / "o.safetensors")
    with pytest.raises(ConversionError, match="file not found"):
        import_weights(tmp_path / "nothing.pkl", tmp_path / "o.safetensors")


def test_a_pth_with_pickled_objects_is_refused(tmp_path):
    evil = tmp_path / "evil.pth"
    buf = io.BytesIO()
    torch.save({"state_dict": {"backbone.conv1.weight": torch.zeros(1)}, "meta": {"hook": Canary(tmp_path / "c")}}, buf)
    evil.write_bytes(buf.getvalue())
    with pytest.raises(ConversionError, match="refused"):
        import_weights(evil, tmp_path / "o.safetensors")
    assert not (tmp_path / "c").exists()


def test_a_detectron2_training_checkpoint_saved_as_pth_is_recognised(tmp_path, d2_state):
    state = {k: torch.from_numpy(v.copy()) for k, v in d2_state.items() if not k.startswith(("pixel_", "proposal_generator.anchor"))}
    src = tmp_path / "model_final.pth"
    torch.save({"model": state, "iteration": 89999}, src)
    out = import_weights(src, tmp_path / "o.safetensors", class_names=["a", "b", "c"])
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["extra"]["imported"]["framework"] == "detectron2"
    assert any("pixel_mean" in w for w in meta["extra"]["imported"]["warnings"])
