"""The learning-rate schedule of a run as an object that can be re-planned without a jump.

A run's curve (linear warmup, then cosine or step decay, :func:`rnxstudio.ml.optim.lr_factor`)
is drawn once on a *curve axis* of ``curve_total`` steps. The optimiser steps are mapped onto
that axis piecewise-linearly; a ``--minutes`` run that re-plans its length (after timing its
first steps, at step 50, after a validation pass, ...) does not redraw the curve: it only
changes how the remaining steps map onto what is left of it. So for ANY re-plan:

* the rate at the re-plan step is exactly what it was (no jump: the old code recomputed the
  curve for the new length, and the rate jumped at step ~50 by up to 7x);
* the remaining steps walk the rest of the same curve, reaching its end at the new total.

An un-replanned run maps step ``s`` to ``s``: its rates are exactly ``lr_factor(s, total)``.
The state is plain data (a resumed run follows the same curve).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rnxstudio.ml.optim import lr_factor, warmup_steps
from rnxstudio.ml.train_config import TrainConfig


@dataclass
class Schedule:
    total: int  # optimiser steps planned now
    curve_total: int  # length of the curve on its own axis (fixed by the first plan)
    knots: list[tuple[int, float]] = field(default_factory=lambda: [(0, 0.0)])  # (step, curve position)

    @classmethod
    def fixed(cls, total: int) -> Schedule:
        """A run whose length is known from the start: step s is curve position s."""
        total = max(1, int(total))
        return cls(total, total, [(0, 0.0)])

    @classmethod
    def planned_at(cls, step: int, total: int) -> Schedule:
        """The first plan of a timed run, made after ``step`` steps spent at the curve's first
        rate: steps ``step..total`` walk the whole curve, so the rate goes on from where the
        timing steps left it."""
        total = max(int(step) + 1, int(total))
        return cls(total, total, [(int(step), 0.0)])

    def position(self, step: float) -> float:
        """Where optimiser step ``step`` is on the curve (0 .. ``curve_total``)."""
        first_step, first_pos = self.knots[0]
        if step <= first_step:
            return first_pos
        i = max(k for k, (s, _v) in enumerate(self.knots) if s <= step)
        s0, v0 = self.knots[i]
        s1, v1 = self.knots[i + 1] if i + 1 < len(self.knots) else (self.total, float(self.curve_total))
        if step >= s1:
            return v1
        return v0 + (step - s0) * (v1 - v0) / (s1 - s0)

    def replan(self, step: int, total: int) -> None:
        """From optimiser step ``step`` on, the run has ``total`` steps. The curve position at
        ``step`` is kept, so the rate does not jump; a total at or below ``step`` becomes
        ``step + 1`` (one step to walk the rest of the curve)."""
        step = int(step)
        here = self.position(step)
        self.knots = [k for k in self.knots if k[0] < step] + [(step, here)]
        self.total = max(step + 1, int(total))

    def factor(self, step: float, cfg: TrainConfig) -> float:
        """The multiplier of the base rate at optimiser step ``step``."""
        warm = warmup_steps(cfg, self.curve_total)
        return lr_factor(self.position(step), self.curve_total, warm, cfg)

    def state(self) -> dict[str, Any]:
        return {"total": self.total, "curve_total": self.curve_total, "knots": [list(k) for k in self.knots]}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None, total: int | None) -> Schedule | None:
        """A schedule saved by :meth:`state`; without one (a state file written before schedules
        were saved) the fixed schedule of ``total``, or None when there is no plan yet."""
        if state:
            return cls(int(state["total"]), int(state["curve_total"]),
                       [(int(s), float(v)) for s, v in state["knots"]])
        return cls.fixed(total) if total is not None else None
