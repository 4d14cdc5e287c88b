"""Closing the loop in the app: Fine-tune dialog, Training dock, before/after results with a
one-click hot-swap into pre-labeling, Compare backbones, and the Review queue.

``install(ctx)`` (a feature, see :mod:`rnxstudio.ui.features`) creates the
:class:`~rnxstudio.ui.training.controller.TrainingController` and the
:class:`~rnxstudio.ui.training.review_dock.ReviewDock` and registers the ``finetune``,
``compare_backbones`` and ``review_queue`` actions.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnxstudio.ui.context import AppContext
from rnxstudio.ui.training.controller import TrainingController
from rnxstudio.ui.training.review_dock import ReviewDock


def open_compare_dialog(ctx: AppContext, training: TrainingController) -> bool:
    from rnxstudio.ui.model_dialog import zoo_entries
    from rnxstudio.ui.training.dialog import CompareDialog

    if not training._check_ready():
        return False
    dlg = CompareDialog(ctx.window, zoo=[(n, t) for n, t, _d in zoo_entries()], defaults=training.default_options())
    if dlg.exec() != dlg.DialogCode.Accepted:
        return False
    return training.compare_backbones(dlg.names(), dlg.options())


@dataclass
class TrainingFeature:
    controller: TrainingController
    review: ReviewDock

    def shutdown(self) -> None:
        self.controller.shutdown()


def install(ctx: AppContext) -> TrainingFeature:
    training = TrainingController(ctx)
    review = ReviewDock(ctx)

    def show_review() -> None:
        review.setVisible(True)
        review.raise_()
        review.rank()

    ctx.actions.handle(finetune=training.open_dialog, compare_backbones=lambda: open_compare_dialog(ctx, training),
                       review_queue=show_review)
    return TrainingFeature(training, review)
