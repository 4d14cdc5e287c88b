"""Which model a project opens with: the project's own preferred model on its first open (the
demo project names the shipped ``demo`` detector in its meta), else the model the user chose
last (remembered in the settings of this user data folder, across restarts)."""

from __future__ import annotations

import json
import os

from PySide6.QtCore import QSettings

from rnxstudio.ui.models import ModelChoice

CHOICE_KEY = "model/choice"  # JSON of the last ModelChoice the user made
SEEN_KEY = "model/projects_opened"  # projects whose preferred model was offered once
PREFERRED_MODEL_META = "preferred_model"  # project meta: a zoo name or a checkpoint path
MAX_SEEN = 200


def remembered_choice(settings: QSettings) -> ModelChoice | None:
    raw = settings.value(CHOICE_KEY)
    if not raw:
        return None
    try:
        return ModelChoice.from_dict(json.loads(str(raw)))
    except (ValueError, TypeError):  # a damaged setting: forget it rather than fail to start
        return None


def remember_choice(settings: QSettings, choice: ModelChoice) -> None:
    settings.setValue(CHOICE_KEY, json.dumps(choice.to_dict()))


def _seen(settings: QSettings) -> list[str]:
    value = settings.value(SEEN_KEY, [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or [])]


def choice_for_project(settings: QSettings, store) -> ModelChoice | None:
    """The model to load when ``store``'s project opens (see the module doc); notes the project
    as opened, so its preferred model wins once and the user's choice after that."""
    key = str(store.path)
    seen = _seen(settings)
    first = key not in seen
    if first:
        settings.setValue(SEEN_KEY, ([key] + seen)[:MAX_SEEN])
    remembered = remembered_choice(settings)
    preferred = store.meta(PREFERRED_MODEL_META)
    if preferred and first:
        base = remembered or ModelChoice()
        is_file = os.path.isfile(preferred)
        return ModelChoice(zoo_name=None if is_file else preferred, checkpoint=preferred if is_file else None,
                           device=base.device, precision=base.precision, backend=base.backend)
    return remembered
