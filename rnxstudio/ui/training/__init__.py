"""Closing the loop in the app: Fine-tune dialog, Training dock, before/after results with a
one-click hot-swap into pre-labeling, Compare backbones, and the Review queue.

``install(window)`` (a feature module, see :mod:`rnxstudio.ui.features`) creates
``window.training`` (:class:`~rnxstudio.ui.training.controller.TrainingController`) and
``window.review`` (:class:`~rnxstudio.ui.training.review_dock.ReviewDock`) and registers the
``finetune``, ``compare_backbones`` and ``review_queue`` actions.
"""

from __future__ import annotations


def open_compare_dialog(window, training) -> bool:
    from rnxstudio.ui.model_dialog import zoo_entries
    from rnxstudio.ui.training.dialog import CompareDialog

    if not training._check_ready():
        return False
    training._ml_ready()
    dlg = CompareDialog(window, zoo=[(n, t) for n, t, _d in zoo_entries()], defaults=training.default_options())
    if dlg.exec() != dlg.DialogCode.Accepted:
        return False
    return training.compare_backbones(dlg.names(), dlg.options())


def install(window) -> None:
    from rnxstudio.ui.training.controller import TrainingController
    from rnxstudio.ui.training.review_dock import ReviewDock

    training = TrainingController(window)
    window.training = training
    review = ReviewDock(window)
    from PySide6.QtCore import Qt

    window.addDockWidget(Qt.RightDockWidgetArea, review)
    review.setVisible(False)
    window.review = review

    def show_review() -> None:
        review.setVisible(True)
        review.raise_()
        review.refresh()

    h = window.handlers
    h["finetune"] = training.open_dialog
    h["compare_backbones"] = lambda: open_compare_dialog(window, training)
    h["review_queue"] = show_review
    window.shutdown_hooks.append(training.shutdown)
