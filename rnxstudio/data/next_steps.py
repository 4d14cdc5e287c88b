"""What to do next, as plain data: the empty-state panel / status line of the app.

:func:`next_steps` reads a project (or none) and returns three :class:`NextStep` records in the
order of the loop: with no project, open the demo or a folder; in a project, pre-label ->
correct -> fine-tune, each with the counts that make it concrete. A step names the action
(an id of the GUI's action table, ``rnxstudio.ui.actions.ACTIONS``) whose shortcut the GUI
shows next to it, and its text may name other actions as ``{action_id}``; :func:`render` fills
those in from the GUI's key map, so no key is written down twice.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

from rnxstudio.core.model import ImageStatus


@dataclass(frozen=True)
class NextStep:
    action: str  # action id; the GUI shows its shortcut and runs it on click
    text: str  # may contain {action_id} placeholders for other actions' keys
    done: bool = False  # nothing left to do for this step right now


def next_steps(store=None, *, model: str | None = None) -> list[NextStep]:
    """Three steps for ``store`` (a ProjectStore, or None when no project is open). ``model`` is
    the title of the pre-labeling model, when one is chosen."""
    if store is None:
        return [
            NextStep("open_demo", "Open the demo project: synthetic shapes, half of them labelled, and a "
                                  "detector that ships with the app (works offline)"),
            NextStep("open_folder", "Or open a folder of your own images ({open_video}: a video)"),
            NextStep("shortcuts", "Every shortcut, any time"),
        ]
    counts = store.status_counts()
    total = sum(counts.values())
    verified = counts[ImageStatus.VERIFIED]
    predicted = counts[ImageStatus.PREDICTED]
    todo = counts[ImageStatus.UNLABELED]
    new_class = store.meta("new_class")
    using = f" with {model}" if model else ""
    prelabel = (f"Pre-label the {todo} unlabelled image{'s' if todo != 1 else ''}{using} "
                "({prelabel_current}: just this one)") if todo else "Every image has labels or pre-labels"
    correct = ("Correct the boxes: {draw_box} draw, {accept} accept, {reject} reject, {change_class} change "
               "class; then verify and go on")
    if predicted:
        correct += f" ({predicted} image{'s' if predicted != 1 else ''} waiting)"
    if verified:
        finetune = f"Fine-tune on the {verified} verified image{'s' if verified != 1 else ''}"
        if new_class:
            finetune += f": it learns '{new_class}', a class the demo detector has never seen (a minute or two on a 2-core CPU)"
    else:
        finetune = "Fine-tune once some images are verified"
    return [
        NextStep("prelabel_all", prelabel, done=todo == 0 and total > 0),
        NextStep("verify_next", correct, done=predicted == 0 and todo == 0 and verified == total),
        NextStep("finetune", finetune, done=False),
    ]


def placeholders(text: str) -> list[str]:
    """The action ids a step's text refers to."""
    return [name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name]


def render(step: NextStep, keys: Mapping[str, str]) -> str:
    """``step``'s text with each ``{action_id}`` replaced by ``keys[action_id]`` (the GUI's
    shortcut text); an action without a key shows as its id."""
    return step.text.format_map({name: keys.get(name) or name for name in placeholders(step.text)})
