"""Training as job kinds of the one engine (:mod:`rnxstudio.ui.jobs`), on the train lane.

:func:`finetune_items` drives :func:`rnxstudio.ml.train.finetune` (the generator the CLI drives
too) and yields tagged items the controller handles on the GUI thread:

* ``("progress", label, record)`` — every :class:`~rnxstudio.ml.train_config.Progress` record;
* ``("checkpoint", label, path, info)`` — the trainer's ``on_checkpoint`` hook, posted at once so
  the project records the checkpoint while training goes on (the store lives on the GUI thread).

Cancel sets the job's event, which is the trainer's ``cfg.cancel``: it stops at the next step,
writes a resumable checkpoint and returns it (these jobs drain on cancel instead of being cut).
None of this touches Qt or the project store.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from rnxstudio.ui.jobs import JobContext
from rnxstudio.ui.ml_import import ml_lock

@dataclass
class TrainOutcome:
    """What a training job returns: the checkpoint ``finetune`` returned and how it ended."""

    checkpoint: str
    cancelled: bool
    steps: int
    last_eval: Any = None  # EvalResult of the last evaluation, if any
    records: int = 0


def import_trainer() -> None:
    """Import the trainer under the shared lock (the pre-labeling prewarm may be importing
    torchvision on another thread; two concurrent imports can deadlock importlib)."""
    with ml_lock():
        import rnxstudio.ml.compare  # noqa: F401
        import rnxstudio.ml.resolve  # noqa: F401
        import rnxstudio.ml.train  # noqa: F401


def finetune_items(cfg: Any, ctx: JobContext, label: str | None = None) -> Generator[tuple, None, TrainOutcome]:
    """Run ``finetune(cfg)`` to the end, yielding its records tagged with ``label``."""
    import_trainer()
    with ml_lock():
        from rnxstudio.ml.train import finetune

    def on_checkpoint(path: Any, info: dict[str, Any]) -> None:
        ctx.post(("checkpoint", label, str(path), dict(info)))

    gen = finetune(cfg.replace(cancel=ctx.cancel, on_checkpoint=on_checkpoint))
    cancelled, steps, last_eval, n = False, 0, None, 0
    try:
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                return TrainOutcome(str(stop.value), cancelled, steps, last_eval, n)
            n += 1
            steps = max(steps, p.step)
            last_eval = p.eval if p.eval is not None else last_eval
            cancelled = cancelled or p.kind == "cancelled"
            yield ("progress", label, p)
    finally:
        gen.close()
