"""An exponential moving average of the weights over the end of a run (EMA; SWA-like at first).

The trainer keeps training the live weights; validation and the checkpoints it writes use the
average (:func:`averaged`), which is less noisy than the last step's weights when a run is short
and its learning rate is still high near the end. The average's time constant is a fraction of
the run (``horizon``), so one setting suits a 100-step fine-tune and a 2000-step benchmark:

    w_avg <- w_avg + a_n * (w - w_avg),   a_n = max(1 / n, 1 / (horizon * total_steps))

where n counts the updates: a plain running mean until n reaches the time constant, then an
EMA that forgets the early weights (exp(-1/horizon) of their weight is left at the end).
Integer buffers are copied, not averaged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class WeightAverage:
    def __init__(self, horizon: float):
        if not 0.0 < horizon <= 1.0:
            raise ValueError(f"ema_horizon must be in (0, 1], got {horizon}")
        self.horizon = float(horizon)
        self.n = 0
        self.avg: dict[str, torch.Tensor] = {}
        self._live: dict[str, torch.Tensor] | None = None  # the live weights while the average is applied

    def update(self, model: nn.Module, total_steps: int | None) -> None:
        """Fold the model's current weights into the average (after an optimiser step)."""
        if total_steps is None:  # a --minutes run still timing its first steps
            return
        state = model.state_dict()
        with torch.no_grad():
            if not self.avg:
                self.avg = {k: v.detach().clone() for k, v in state.items()}
                self.n = 1
                return
            self.n += 1
            a = max(1.0 / self.n, 1.0 / max(1.0, self.horizon * total_steps))
            names = [k for k, v in state.items() if v.is_floating_point()]
            torch._foreach_lerp_([self.avg[k] for k in names], [state[k].detach() for k in names], a)
            for k, v in state.items():
                if not v.is_floating_point():
                    self.avg[k].copy_(v)

    def state_dict(self) -> dict:
        """For the trainer's resumable state: the average, and the live weights if it is applied
        right now (a checkpoint written with the average in the model)."""
        out = {"horizon": self.horizon, "n": self.n, "avg": {k: v.cpu() for k, v in self.avg.items()}}
        if self._live is not None:
            out["live"] = {k: v.cpu() for k, v in self._live.items()}
        return out

    def load_state_dict(self, state: dict, model: nn.Module) -> None:
        """Restore the average; put back the live weights when the checkpoint holds the average."""
        device = next(model.parameters()).device
        self.n = int(state["n"])
        self.avg = {k: v.to(device) for k, v in state["avg"].items()}
        if state.get("live"):
            model.load_state_dict(state["live"])


@contextlib.contextmanager
def averaged(wa: WeightAverage | None, model: nn.Module) -> Iterator[None]:
    """Within the block the model holds the averaged weights (no-op without an average yet)."""
    if wa is None or not wa.avg:
        yield
        return
    state = model.state_dict()
    wa._live = {k: v.detach().clone() for k, v in state.items()}
    try:
        with torch.no_grad():
            for k, v in state.items():
                v.copy_(wa.avg[k])
        yield
    finally:
        with torch.no_grad():
            for k, v in model.state_dict().items():
                v.copy_(wa._live[k])
        wa._live = None
