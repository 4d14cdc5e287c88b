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
