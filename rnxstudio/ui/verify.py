"""Verify without losing what is on screen (issue 15, item 1).

Verifying says "these are this image's objects". The predictions the person sees (at or above
the confidence slider, with predictions shown) are either accepted in the same undo step — the
setting Edit → "Verify Accepts Shown Predictions", on by default, like CVAT's "accept all" — or,
with the setting off, the person is asked once: accept them, verify without them, or cancel.
An image is never verified as empty while boxes are showing. The session does the work
(:meth:`rnxstudio.data.session.ProjectSession.verify`).
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from rnxstudio.ui.context import AppContext

SETTING = "verify/accept_shown_predictions"


def accepts_shown(ctx: AppContext) -> bool:
    value = ctx.settings.value(SETTING, True)
    return value not in (False, "false", "0", 0)


def set_accepts_shown(ctx: AppContext, on: bool) -> None:
    ctx.settings.setValue(SETTING, bool(on))


def shown_from(ctx: AppContext, threshold: float) -> float:
    """The lowest score a prediction on screen has: the slider, or nothing when hidden."""
    act = ctx.actions.by_id.get("toggle_predictions")
    return threshold if act is None or act.isChecked() else float("inf")


def ask(ctx: AppContext, n: int) -> str | None:
    """"accept", "leave" or None (cancelled)."""
    box = QMessageBox(QMessageBox.Question, "Verify",
                      f"{n} prediction{'s are' if n != 1 else ' is'} showing on this image and not reviewed.\n"
                      "Accept them as labels before verifying? Predictions left as they are are not "
                      "exported or trained on.", QMessageBox.NoButton, ctx.window)
    accept = box.addButton("Accept and verify", QMessageBox.AcceptRole)
    leave = box.addButton("Verify without them", QMessageBox.DestructiveRole)
    box.addButton(QMessageBox.Cancel)
    box.setDefaultButton(accept)
    box.setObjectName("verify_question")
    box.exec()
    clicked = box.clickedButton()
    return "accept" if clicked is accept else "leave" if clicked is leave else None


def verify(ctx: AppContext, image_id: int, threshold: float) -> bool:
    """Verify ``image_id`` by the setting (asking when it is off); False when cancelled."""
    session = ctx.session.session
    if session is None:
        return False
    low = shown_from(ctx, threshold)
    policy = "accept"
    if low != float("inf"):
        shown = session.unreviewed_predictions(image_id, low)
        if shown and not accepts_shown(ctx):
            policy = ask(ctx, len(shown))
            if policy is None:
                return False
    else:
        low, policy = 0.0, "leave"  # hidden predictions are not what the person verified
    return session.verify(image_id, shown_from=low, predictions=policy)
