"""Training faults beyond H5's unit tests (tests/unit/test_train.py covers NaN skip/stop, zero-size
boxes, simulated CUDA OOM, cancel + exact resume): NaN losses that start after a good epoch stop
the run with a clear error and leave the last good checkpoint byte-identical and loadable."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.reliability


def test_nan_after_a_good_epoch_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from rnxstudio.data.demo import make_shapes_dataset
    from rnxstudio.ml import train as train_mod
    from rnxstudio.ml.checkpoint import load_checkpoint
    from rnxstudio.ml.train import TrainConfig, TrainingError, finetune

    data = tmp_path / "shapes"
    make_shapes_dataset(4, 64, seed=3, out_dir=data, max_objects=2, empty_every=0)
    cfg = TrainConfig(out_dir=tmp_path / "run", coco=data / "annotations.json", model="resnext_tiny_fpn",
                      pretrained_backbone=False, batch_size=2, size=64, max_size=96, optimizer="adamw",
                      scale_jitter=False, seed=1, val_split=0.0, epochs=3, max_nonfinite=2,
                      checkpoint_every_min=0.0)  # a resumable checkpoint at every epoch end
    real = train_mod._compute_losses
    calls = {"n": 0}

    def nan_from_epoch_two(model, images, targets):
        calls["n"] += 1
        out = real(model, images, targets)
        if calls["n"] > 2:  # 4 images, batch 2: epoch 1 is steps 1-2
            out["loss_box_reg"] = out["loss_box_reg"] * float("nan")
        return out

    monkeypatch.setattr(train_mod, "_compute_losses", nan_from_epoch_two)
    snapshots: dict = {}
    with pytest.raises(TrainingError, match="non-finite") as err:
        for _record in finetune(cfg):
            for p in (tmp_path / "run").glob("*.safetensors"):
                snapshots.setdefault(p.name, p.read_bytes())
    assert snapshots, "epoch 1 wrote no checkpoint"
    for name, data_bytes in snapshots.items():
        assert (tmp_path / "run" / name).read_bytes() == data_bytes, f"{name} changed after the NaN stop"
        load_checkpoint(tmp_path / "run" / name)  # still a complete, loadable checkpoint
    assert not [p for p in (tmp_path / "run").rglob("*.tmp")]
    assert "Traceback" not in str(err.value)
