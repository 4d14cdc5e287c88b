"""Issue 15, items 13 and 15: what a run leaves on disk, and a learning-rate schedule that stays
continuous when a ``--minutes`` run re-plans its length.

Time is a fake clock advanced by the (patched) loss computation, so "minutes" cost no minutes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnxstudio.data.demo import make_shapes_dataset
from rnxstudio.ml import train as train_mod
from rnxstudio.ml.train import TrainConfig, finetune
from rnxstudio.ml.train_state import load_train_state


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    out = tmp_path_factory.mktemp("shapes")
    make_shapes_dataset(8, 64, seed=2, out_dir=out, max_objects=3, empty_every=4)
    return out


def _cfg(shapes, out, **kw) -> TrainConfig:
    base = dict(out_dir=out, coco=shapes / "annotations.json", model="resnext_tiny_fpn", pretrained_backbone=False,
                batch_size=2, size=64, max_size=96, optimizer="adamw", scale_jitter=False, seed=1, val_split=0.25)
    base.update(kw)
    return TrainConfig(**base)


def _cheap_losses(model, images, targets):
    """A loss with a gradient and no forward pass: for tests of the schedule, not of learning."""
    p = next(q for q in model.parameters() if q.requires_grad)
    return {"loss_classifier": (p * 0.0).sum() + 1.0}


def _fake_clock(monkeypatch, cost, losses=None):
    """A clock that advances ``cost(n)`` seconds for the n-th forward pass (1-based)."""
    now = [0.0]
    calls = [0]
    real = losses or train_mod._compute_losses

    def timed(*a, **kw):
        calls[0] += 1
        now[0] += cost(calls[0])
        return real(*a, **kw)

    monkeypatch.setattr(train_mod, "_compute_losses", timed)
    return lambda: now[0]


# ---------------------------------------------------------------- item 13: disk use

def test_a_run_keeps_the_best_and_the_last_checkpoint_only(shapes, tmp_path):
    out = tmp_path / "run"
    records = list(finetune(_cfg(shapes, out, epochs=4)))  # 3 steps per epoch, validation every epoch
    assert records[-1].kind == "done"
    assert sorted(p.name for p in out.iterdir()) == [
        "model_best.json", "model_best.safetensors", "model_last.json", "model_last.safetensors",
        "model_last.train.pt"]
    assert load_train_state(out / "model_last.safetensors")["step"] == 12  # the resume point is the end


def test_periodic_checkpoints_are_written_at_most_once_per_n_minutes(shapes, tmp_path, monkeypatch):
    clock = _fake_clock(monkeypatch, lambda n: 60.0, losses=_cheap_losses)  # a minute a step, 3 an epoch
    seen = []
    cfg = _cfg(shapes, tmp_path / "run", epochs=6, checkpoint_every_min=5.0, clock=clock,
               on_checkpoint=lambda path, info: seen.append((info["step"], path.name, bool(info.get("last")))))
    list(finetune(cfg))
    last_writes = [step for step, _name, last in seen if last]
    # validations at 3, 6, ..., 18 minutes; a periodic `last` at 6 (5 min after the start), then
    # the next one due at 11 is written at 12, then the end (18)
    assert last_writes == [6, 12, 18]
    assert {name for _s, name, _l in seen} <= {"model_best.safetensors", "model_last.safetensors"}


def test_cancel_leaves_the_last_checkpoint_resumable_and_nothing_else(shapes, tmp_path):
    import threading

    cancel = threading.Event()
    out = tmp_path / "run"
    for r in finetune(_cfg(shapes, out, epochs=3, cancel=cancel)):
        if r.kind == "step" and r.step == 5:
            cancel.set()
    assert r.kind == "cancelled" and r.checkpoint.endswith("model_last.safetensors")
    assert load_train_state(r.checkpoint)["step"] == 5
    assert not any("train.pt" in p.name and "last" not in p.name for p in out.iterdir())


# ---------------------------------------------------------------- item 15: schedule continuity

class _Cfg:
    warmup_steps = None
    warmup_factor = 0.001
    schedule = "cosine"
    min_lr_factor = 0.01
    step_milestones = (0.67, 0.89)


@settings(max_examples=300, deadline=None)
@given(first=st.integers(2, 3000), at=st.floats(0.0, 0.999), new=st.integers(1, 6000),
       again=st.floats(0.0, 0.999), third=st.integers(1, 6000))
def test_any_replan_keeps_the_rate_continuous_and_ends_the_curve_at_the_new_total(first, at, new, again, third):
    from rnxstudio.ml.schedule import Schedule

    cfg = _Cfg()
    s = Schedule.fixed(first)
    for frac, total in ((at, new), (again, third)):
        step = int(frac * s.total)
        before = s.factor(step, cfg)
        s.replan(step, step + total)
        assert s.factor(step, cfg) == pytest.approx(before, rel=1e-12, abs=1e-15)  # no jump
        # each later step moves along the same curve: never more than the old plan's steepest
        # single step scaled by how much the remaining run was squeezed
        curve_left = s.curve_total - s.position(step)
        steps_left = s.total - step
        squeeze = max(1.0, curve_left / steps_left)
        worst = max(abs(s.factor(k + 1, cfg) - s.factor(k, cfg)) for k in range(step, min(s.total, step + 50)))
        slope = math.pi / 2 / max(1, s.curve_total - 200) + 1.0 / max(1, min(200, s.curve_total // 10))
        assert worst <= squeeze * slope + 1e-9
        assert s.position(s.total) == pytest.approx(s.curve_total)  # the curve ends at the new total
    assert s.factor(s.total, cfg) == pytest.approx(cfg.min_lr_factor)


def test_an_unreplanned_schedule_is_the_plain_curve():
    from rnxstudio.ml.optim import lr_factor, warmup_steps
    from rnxstudio.ml.schedule import Schedule

    cfg = _Cfg()
    s = Schedule.fixed(500)
    assert [s.factor(k, cfg) for k in range(0, 501, 7)] == [
        lr_factor(k, 500, warmup_steps(cfg, 500), cfg) for k in range(0, 501, 7)]


def test_minutes_run_re_planned_at_step_50_has_no_jump_and_ends_at_100_percent(shapes, tmp_path, monkeypatch):
    # the first 4 steps are slow (another program's burst of load), the rest twice as fast: the
    # first plan (after 3 timed steps) is 60 steps, the re-plan at step 50 about twice that
    clock = _fake_clock(monkeypatch, lambda n: 1.0 if n <= 4 else 0.5, losses=_cheap_losses)
    records = list(finetune(_cfg(shapes, tmp_path / "run", minutes=1.0, val_split=0.0, warmup_steps=4,
                                 clock=clock)))
    steps = [r for r in records if r.kind == "step" and r.losses]
    # re-planned at step 50 or, sooner, after an epoch's validation pass (which measures the step time too)
    assert any("re-planned" in (r.message or "") for r in records), [r.message for r in records if r.message]
    lrs = [r.lr for r in steps]
    peak = max(lrs)
    jumps = [abs(b - a) / peak for a, b in zip(lrs[9:], lrs[10:])]  # after the warmup
    assert max(jumps) < 0.05, f"lr jumps by {max(jumps):.0%} of its peak at step {jumps.index(max(jumps)) + 10}"
    assert steps[-1].step == steps[-1].total_steps  # the progress bar ends full
    assert lrs[-1] < 0.05 * peak  # the cosine reached its end
