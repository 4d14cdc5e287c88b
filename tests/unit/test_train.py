"""ml/train.py: the fine-tuning generator on tiny data with the tiny model — overfitting one
batch, checkpoints and class map, negatives, NaN injection, simulated CUDA OOM, cancel + resume."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from rnxstudio.data.demo import make_shapes_dataset
from rnxstudio.ml import train as train_mod
from rnxstudio.ml.train import TrainConfig, TrainingError, finetune
from rnxstudio.ml.train_state import load_train_state, train_state_path


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    out = tmp_path_factory.mktemp("shapes")
    make_shapes_dataset(8, 64, seed=2, out_dir=out, max_objects=3, empty_every=4)
    return out


def _cfg(shapes, out, **kw) -> TrainConfig:
    base = dict(out_dir=out, coco=shapes / "annotations.json", model="resnext_tiny_fpn", pretrained_backbone=False,
                batch_size=2, size=64, max_size=96, optimizer="adamw", scale_jitter=False, seed=1,
                val_split=0.25)
    base.update(kw)
    return TrainConfig(**base)


def _drain(gen):
    records = []
    try:
        while True:
            records.append(next(gen))
    except StopIteration as stop:
        return records, stop.value


def test_overfit_one_batch_then_checkpoint_loads_with_class_map(shapes, tmp_path):
    from rnxstudio.ml.checkpoint import load_checkpoint

    # two images, no validation, no augmentation: the loss on this fixed batch must fall
    coco = json.loads((shapes / "annotations.json").read_text())
    keep = [im for im in coco["images"] if any(a["image_id"] == im["id"] for a in coco["annotations"])][:2]
    ids = {im["id"] for im in keep}
    coco["images"] = keep
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in ids]
    coco["categories"][0]["name"] = "disc"  # a class map that is not the default one
    p = tmp_path / "two.json"
    p.write_text(json.dumps(coco))
    class FakeStore:
        calls: list = []

        def add_model(self, checkpoint, **kw):
            self.calls.append((checkpoint, kw))

    store = FakeStore()
    cfg = _cfg(shapes, tmp_path / "run", coco=p, images=shapes, val_split=0.0, max_steps=14, hflip=0.0,
               photometric=0.0, lr=2e-3, warmup_steps=0, schedule="step", step_milestones=(), eval_every=100,
               on_checkpoint=train_mod.store_recorder(store, name="shapes"))
    records, final = _drain(finetune(cfg))
    steps = [r for r in records if r.kind == "step"]
    assert len(steps) == 14 and steps[-1].step == 14
    losses = [r.loss for r in steps]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert set(steps[0].losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    assert sum(losses[-3:]) / 3 < 0.6 * losses[0]
    assert records[-1].kind == "done" and final.is_file()
    built = load_checkpoint(final)
    assert built.class_names == ["disc", "square", "triangle", "star", "ring"]
    assert len(store.calls) == 1  # the run recorded its checkpoint in the "store"
    ckpt, kw = store.calls[0]
    assert ckpt == final and kw["classes"][0] == "disc" and kw["recipe"]["max_steps"] == 14
    state = load_train_state(final)  # loads with weights_only=True
    assert state["step"] == 14 and state["category_ids"] == [1, 2, 3, 4, 5]


def test_negatives_and_degenerate_boxes_train(shapes, tmp_path):
    coco = json.loads((shapes / "annotations.json").read_text())
    coco["annotations"].append({"id": 999, "image_id": coco["images"][1]["id"], "category_id": 1,
                                "bbox": [5, 5, 0.1, 0.1], "iscrowd": 0})
    p = tmp_path / "labels.json"
    p.write_text(json.dumps(coco))
    cfg = _cfg(shapes, tmp_path / "run", coco=p, images=shapes, max_steps=2, val_split=0.0, batch_size=4)
    records, final = _drain(finetune(cfg))
    assert "dropped 1 degenerate boxes" in records[0].message and "shape_00001.png" in records[0].message
    assert all(torch.isfinite(torch.tensor(r.loss)) for r in records if r.kind == "step")
    assert final.is_file()


def test_nan_losses_are_skipped_then_stop_without_checkpoint(shapes, tmp_path, monkeypatch):
    real = train_mod._compute_losses
    calls = {"n": 0}

    def nan_after_two(model, images, targets):
        calls["n"] += 1
        out = real(model, images, targets)
        if calls["n"] > 2:
            out["loss_classifier"] = out["loss_classifier"] * float("nan")
        return out

    monkeypatch.setattr(train_mod, "_compute_losses", nan_after_two)
    out = tmp_path / "run"
    gen = finetune(_cfg(shapes, out, max_steps=20, max_nonfinite=3))
    seen = []
    with pytest.raises(TrainingError, match="3 non-finite losses in a row") as err:
        for r in gen:
            seen.append(r)
    assert "No checkpoint was written" in str(err.value)
    skipped = [r for r in seen if "non-finite loss" in r.message]
    assert len(skipped) == 2 and max(r.step for r in seen) == 2  # the step counter did not advance
    assert not list(out.glob("*.safetensors"))


def test_cuda_oom_halves_the_batch_and_retries_once(shapes, tmp_path, monkeypatch):
    real = train_mod._forward_backward
    state = {"raised": 0}

    def oom_once(tr, images, targets):
        if state["raised"] == 0:
            state["raised"] += 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(tr, images, targets)

    monkeypatch.setattr(train_mod, "_forward_backward", oom_once)
    records, final = _drain(finetune(_cfg(shapes, tmp_path / "run", max_steps=2, val_split=0.0)))
    steps = [r for r in records if r.kind == "step"]
    assert [r.step for r in steps] == [1, 2]
    assert "out of memory: batch reduced to 1" in steps[0].message
    assert load_train_state(final)["micro"] == 1


def test_oom_twice_is_a_clear_error(shapes, tmp_path, monkeypatch):
    def always(tr, images, targets):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(train_mod, "_forward_backward", always)
    with pytest.raises(TrainingError, match="out of memory at step 1 even after reducing"):
        _drain(finetune(_cfg(shapes, tmp_path / "run", max_steps=2, val_split=0.0)))


def test_cancel_then_resume_equals_uninterrupted_run(shapes, tmp_path):
    kw = dict(epochs=2, warmup_steps=2)  # 6 train images, batch 2 -> 3 steps per epoch
    full, _ = _drain(finetune(_cfg(shapes, tmp_path / "a", **kw)))
    full_steps = [(r.step, r.epoch, r.lr, r.loss) for r in full if r.kind == "step"]
    assert len(full_steps) == 6

    cancel = threading.Event()
    first = []
    for r in finetune(_cfg(shapes, tmp_path / "b", cancel=cancel, **kw)):
        first.append(r)
        if r.kind == "step" and r.step == 4:
            cancel.set()
    assert first[-1].kind == "cancelled"
    ckpt = first[-1].checkpoint
    assert train_state_path(ckpt).is_file()
    second, final = _drain(finetune(_cfg(shapes, tmp_path / "b", resume=ckpt, **kw)))
    resumed = [(r.step, r.epoch, r.lr, r.loss) for r in first + second if r.kind == "step"]
    assert [s[:2] for s in resumed] == [s[:2] for s in full_steps]
    assert [s[2] for s in resumed] == pytest.approx([s[2] for s in full_steps], rel=1e-12)
    assert [s[3] for s in resumed] == pytest.approx([s[3] for s in full_steps], rel=1e-4)
    assert final.is_file()


def test_closing_the_generator_leaves_a_resumable_checkpoint(shapes, tmp_path):
    gen = finetune(_cfg(shapes, tmp_path / "run", max_steps=10, val_split=0.0))
    for r in gen:
        if r.kind == "step" and r.step == 1:
            break
    gen.close()
    ckpt = tmp_path / "run" / "model_last.safetensors"
    assert ckpt.is_file() and load_train_state(ckpt)["step"] == 1


def test_bad_data_is_a_training_error(tmp_path):
    with pytest.raises(TrainingError, match="nothing.json"):
        next(finetune(TrainConfig(out_dir=tmp_path, coco=tmp_path / "nothing.json", pretrained_backbone=False)))


def test_channels_last_training_runs_and_matches_the_default_layout(shapes, tmp_path):
    """The CUDA default (weights channels-last) forced on the CPU. Images are 3-D, so the trainer
    must not ask them for a 4-D memory format: it crashed on the first CUDA step before (found
    on an H200 with scripts/perf/gpu_check.sh). Same seed, same data: the first loss must match."""
    runs = {}
    for flag in (False, True):
        records, _ = _drain(finetune(_cfg(shapes, tmp_path / str(flag), max_steps=2, val_split=0.0,
                                          channels_last=flag, hflip=0.0, photometric=0.0)))
        runs[flag] = [r.loss for r in records if r.kind == "step"]
    assert len(runs[True]) == 2 and all(torch.isfinite(torch.tensor(runs[True])))
    assert runs[True][0] == pytest.approx(runs[False][0], rel=1e-3, abs=1e-4)
