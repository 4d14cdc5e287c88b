"""ml/train_config.py: the benchmarks' KEY=VALUE overrides and the per-device defaults."""

from __future__ import annotations

import pytest

from rnxstudio.ml.train_config import TrainConfig, cpu_defaults, parse_overrides, recommended_config


def test_overrides_parse_json_values_and_keep_text():
    got = parse_overrides(["lr=0.002", "amp=false", "clip_grad_norm=null", "model_kwargs={\"norm\": \"bn\"}",
                           "optimizer=adamw", "name=a=b"])
    assert got == {"lr": 0.002, "amp": False, "clip_grad_norm": None, "model_kwargs": {"norm": "bn"},
                   "optimizer": "adamw", "name": "a=b"}
    TrainConfig(out_dir="x", **got)  # every key is a real field


@pytest.mark.parametrize("bad", ["lr", "=3", ""])
def test_overrides_without_key_or_equals_are_refused(bad):
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides([bad])


def test_cpu_defaults_are_what_the_cpu_gets():
    assert recommended_config("cpu") == cpu_defaults(pretrained=False)
    rec = cpu_defaults(pretrained=False)
    assert rec["model"] == "resnext_tiny_fpn" and rec["roi_batch_per_image"] == 128
    assert cpu_defaults(pretrained=True)["trainable_layers"] == 2
    assert recommended_config("cuda:0")["amp"] is True


def test_minutes_plan_is_made_after_the_first_steps_and_corrected_once():
    from rnxstudio.ml.optim import MEASURE_STEPS, REPLAN_STEP, plan_steps

    no_eval = lambda per: 0.0  # noqa: E731
    # first plan: after MEASURE_STEPS timed steps, from the median without the first step
    assert plan_steps(3, [5.0, 1.0, 1.0], 100.0, no_eval, None) is None
    steps = [5.0] + [1.0] * MEASURE_STEPS
    assert plan_steps(len(steps), steps, 100.0, no_eval, None) == len(steps) + 100
    assert plan_steps(len(steps), steps, 100.0, no_eval, None, cap=50) == 50
    assert plan_steps(4, [5.0, 1.0, 1.0, 1.0], 100.0, lambda per: per, None) == 4 + 50  # eval cost counts
    # a burst of load in the first steps: the second look at REPLAN_STEP fixes the plan
    loaded = [5.0, 3.0, 3.0, 3.0] + [1.0] * (REPLAN_STEP - 4)
    first = plan_steps(4, loaded[:4], 600.0, no_eval, None)
    assert first == 4 + 200
    again = plan_steps(REPLAN_STEP, loaded, 400.0, no_eval, first)
    assert again == REPLAN_STEP + 400
    # within 5 % of the first plan, or at any other step: keep it
    assert plan_steps(REPLAN_STEP, [1.0] * REPLAN_STEP, 150.0 + 4, no_eval, 200 + 5) is None
    assert plan_steps(REPLAN_STEP - 1, loaded[:-1], 400.0, no_eval, first) is None


def test_a_plan_is_corrected_after_each_evaluation_with_its_measured_cost():
    from rnxstudio.ml.optim import plan_after_eval

    # 100 s left, 1 s a step, a 10 s evaluation every 10 steps and one at the end:
    # (100 - 10) / (1 + 10 / 10) = 45 more steps
    assert plan_after_eval(200, 1.0, 10.0, 100.0, 10, current=400) == 245
    assert plan_after_eval(200, 1.0, 10.0, 100.0, 10, current=400, cap=220) == 220
    assert plan_after_eval(200, 1.0, 0.0, 100.0, 10, current=300) is None  # the plan was right
    assert plan_after_eval(200, 1.0, 10.0, 100.0, 10, current=None) is None  # not a --minutes run
    assert plan_after_eval(200, 1.0, 10.0, 100.0, 10, current=200) is None  # already at the end
    assert plan_after_eval(200, 1.0, 50.0, 20.0, 10, current=400) == 201  # past the deadline: one more step
