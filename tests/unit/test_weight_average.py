"""ml/weight_average.py and its use by the trainer: the average's arithmetic, swapping it in and
out, and a run with it that is cancelled and resumed (also from an epoch checkpoint, which holds
the average) ending with the same weights as an uninterrupted run."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from rnxstudio.ml.weight_average import WeightAverage, averaged


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1, bias=False)
        self.register_buffer("count", torch.zeros((), dtype=torch.long))


def _set(net: _Net, value: float, count: int = 0) -> None:
    with torch.no_grad():
        net.lin.weight.fill_(value)
        net.count.fill_(count)


def test_running_mean_then_ema_with_the_horizon_as_time_constant():
    net, wa = _Net(), WeightAverage(horizon=0.25)  # total 8 steps -> time constant 2 updates
    values = [1.0, 3.0, 5.0, 7.0]
    expected = None
    for n, v in enumerate(values, start=1):
        _set(net, v, count=n)
        wa.update(net, total_steps=8)
        a = max(1.0 / n, 1.0 / 2.0)
        expected = v if expected is None else expected + a * (v - expected)
    # 1 -> mean(1, 3) = 2 -> 2 + 0.5 * (5 - 2) = 3.5 -> 3.5 + 0.5 * 3.5 = 5.25
    assert expected == pytest.approx(5.25)
    assert float(wa.avg["lin.weight"][0, 0]) == pytest.approx(5.25)
    assert int(wa.avg["count"]) == 4  # integer buffers are copied


def test_nothing_is_averaged_before_the_run_length_is_known():
    net, wa = _Net(), WeightAverage(horizon=0.1)
    wa.update(net, total_steps=None)
    assert wa.avg == {} and wa.n == 0
    with averaged(wa, net):  # no average yet: the live weights stay
        pass
    with pytest.raises(ValueError, match="ema_horizon"):
        WeightAverage(horizon=0.0)


def test_averaged_swaps_in_and_restores_even_on_error():
    net, wa = _Net(), WeightAverage(horizon=1.0)
    _set(net, 2.0)
    wa.update(net, 10)
    _set(net, 4.0)
    wa.update(net, 10)  # mean 3.0
    _set(net, 9.0)
    with pytest.raises(RuntimeError):
        with averaged(wa, net):
            assert float(net.lin.weight.detach()[0, 0]) == 3.0
            state = wa.state_dict()
            assert float(state["live"]["lin.weight"][0, 0]) == 9.0  # a checkpoint now can be resumed
            raise RuntimeError("boom")
    assert float(net.lin.weight[0, 0]) == 9.0
    assert "live" not in wa.state_dict()


def test_state_round_trip_puts_the_live_weights_back():
    net, wa = _Net(), WeightAverage(horizon=0.5)
    _set(net, 1.0)
    wa.update(net, 4)
    _set(net, 5.0)
    with averaged(wa, net):
        state = wa.state_dict()
    other_net, other = _Net(), WeightAverage(horizon=0.5)
    _set(other_net, 1.0)  # what loading the averaged checkpoint would have put there
    other.load_state_dict(state, other_net)
    assert float(other_net.lin.weight[0, 0]) == 5.0 and other.n == 1
    assert float(other.avg["lin.weight"][0, 0]) == 1.0


# ------------------------------------------------------------------ in the trainer


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from rnxstudio.data.demo import make_shapes_dataset

    out = tmp_path_factory.mktemp("shapes")
    make_shapes_dataset(8, 64, seed=2, out_dir=out, max_objects=3, empty_every=4)
    return out


def _cfg(shapes, out, **kw):
    from rnxstudio.ml.train import TrainConfig

    base = dict(out_dir=out, coco=shapes / "annotations.json", model="resnext_tiny_fpn", pretrained_backbone=False,
                batch_size=2, size=64, max_size=96, optimizer="adamw", scale_jitter=False, seed=1, val_split=0.25,
                epochs=2, warmup_steps=2, ema_horizon=0.5)
    base.update(kw)
    return TrainConfig(**base)


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def _run(cfg):
    from rnxstudio.ml.train import finetune

    records = list(finetune(cfg))
    return records


@pytest.mark.parametrize("stop_at", ["cancel", "epoch"])
def test_resumed_run_with_an_average_ends_with_the_same_weights(shapes, tmp_path, stop_at):
    """``cancel``: resume from the cancel checkpoint (live weights). ``epoch``: resume from the
    ``last`` checkpoint written at the epoch-1 validation (it holds the average; its trainer
    state holds the live weights, which the resume puts back)."""
    import shutil

    from rnxstudio.ml.run_files import state_file
    from rnxstudio.ml.train import finetune

    full = _run(_cfg(shapes, tmp_path / "a", checkpoint_every_min=0))
    end_a = _weights(tmp_path / "a" / "model_last.safetensors")

    cancel = threading.Event()
    first = []
    saved = tmp_path / "at_epoch1"
    for r in finetune(_cfg(shapes, tmp_path / "b", cancel=cancel, checkpoint_every_min=0)):
        first.append(r)
        if r.kind == "checkpoint" and r.epoch == 1:
            assert r.checkpoint.endswith("model_last.safetensors")
            saved.mkdir()
            for f in (r.checkpoint, r.checkpoint.replace(".safetensors", ".json"), state_file(r.checkpoint)):
                shutil.copy(f, saved)
            cancel.set()  # stops before step 4
    assert first[-1].kind == "cancelled"
    live = _weights(first[-1].checkpoint)  # a cancel checkpoint holds the live weights...
    average = _weights(saved / "model_last.safetensors")  # ...one written at validation the average
    assert any(not torch.equal(live[k], v) for k, v in average.items())
    resume = first[-1].checkpoint if stop_at == "cancel" else str(saved / "model_last.safetensors")
    second = _run(_cfg(shapes, tmp_path / "b", resume=resume, checkpoint_every_min=0))
    assert [r.step for r in full if r.kind == "step"] == [r.step for r in first + second if r.kind == "step"]
    end_b = _weights(tmp_path / "b" / "model_last.safetensors")
    for k, v in end_a.items():
        torch.testing.assert_close(end_b[k], v, rtol=1e-4, atol=1e-5)
