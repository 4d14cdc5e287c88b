"""A ``--minutes`` run counts evaluation time: with validation far dearer than the first plan's
guess, the run still reaches the end of its schedule (learning rate annealed) by the deadline
instead of being stopped half-way down the cosine. Time is a fake clock that advances 1 s per
training step and 3 s per validation pass."""

from __future__ import annotations

from rnxstudio.data.demo import make_shapes_dataset
from rnxstudio.ml import train as train_mod
from rnxstudio.ml import train_state
from rnxstudio.ml.train import TrainConfig, finetune


def _fake_clock_run(tmp_path, monkeypatch, **kw):
    """A tiny --minutes run on a fake clock: 1 s a training step, 3 s a validation pass."""
    make_shapes_dataset(8, 64, seed=2, out_dir=tmp_path / "data", max_objects=2, empty_every=4)
    now = [0.0]
    compute, validate = train_mod._compute_losses, train_state.run_validation

    def step_costs_1s(*a, **k):
        now[0] += 1.0
        return compute(*a, **k)

    def eval_costs_3s(*a, **k):
        now[0] += 3.0
        return validate(*a, **k)

    monkeypatch.setattr(train_mod, "_compute_losses", step_costs_1s)
    monkeypatch.setattr(train_state, "run_validation", eval_costs_3s)
    cfg = TrainConfig(out_dir=tmp_path / "run", coco=tmp_path / "data" / "annotations.json", model="resnext_tiny_fpn",
                      pretrained_backbone=False, batch_size=2, size=64, max_size=96, optimizer="adamw",
                      scale_jitter=False, val_split=0.25, minutes=1.0, eval_every=1, clock=lambda: now[0], **kw)
    return list(finetune(cfg)), now[0]


def test_minutes_run_spends_its_budget_on_training_when_validation_is_dear(tmp_path, monkeypatch):
    """A pass (3 s) costs as much as an epoch (3 steps): at the default share (5 %) the run
    validates every 20 epochs, not every one, and trains about twice the steps in its minute."""
    records, elapsed = _fake_clock_run(tmp_path, monkeypatch)
    steps = [r for r in records if r.kind == "step" and r.losses]
    passes = [r for r in records if r.kind == "checkpoint" and r.eval is not None]
    done = records[-1]
    assert done.kind == "done" and "time budget reached" not in done.message
    assert steps[-1].step >= 45  # every-epoch validation fits 25-30 (the test below)
    assert steps[-1].step == steps[-1].total_steps
    assert 2 <= len(passes) <= 4  # the first (it measures the cost), one 20 epochs on, the last
    assert steps[-1].lr < 0.05 * max(r.lr for r in steps)
    assert elapsed <= 60.0 + 3.0 + 1.0


def test_minutes_run_reaches_the_end_of_its_schedule_despite_costly_evaluation(tmp_path, monkeypatch):
    records, elapsed = _fake_clock_run(tmp_path, monkeypatch, eval_share=None)
    steps = [r for r in records if r.kind == "step" and r.losses]
    done = records[-1]
    assert done.kind == "done" and "time budget reached" not in done.message
    # 3 steps and one 3 s pass per epoch: 2 s a step all told, so about (60 - 3) / 2 steps fit
    assert 25 <= steps[-1].step <= 30
    assert steps[-1].step == steps[-1].total_steps
    assert steps[-1].lr < 0.05 * max(r.lr for r in steps)  # the cosine reached its end
    assert elapsed <= 60.0 + 3.0 + 1.0  # the last pass may end a little past the minute
