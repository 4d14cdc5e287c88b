"""The features of the main window, installed in a fixed order and shut down in the reverse.

Each feature module has ``install(ctx, ...) -> feature``: it builds its docks and controllers from
the :class:`~rnxstudio.ui.context.AppContext`, registers its action handlers there and returns an
object with ``shutdown()``. What one feature needs of another is passed here, by name (the
inspector docks beside the Classes dock; editing uses the class panel's current class); nothing
is looked up at run time. Keeping them apart keeps MainWindow thin and lets a newcomer find
"where does pre-labeling live" by file name. The "Next steps" panel is installed last: it names
the other features' actions and runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from rnxstudio.ui import (
    classes,
    editing,
    export_actions,
    inspector_feature,
    next_steps_panel,
    objects_list,
    prelabel,
    training,
    video_nav,
)
from rnxstudio.ui.context import AppContext
from rnxstudio.ui.keys import SpaceTap


@dataclass
class Features:
    classes: classes.ClassesFeature
    editing: editing.EditingController
    objects: objects_list.ObjectsFeature
    exchange: export_actions.ExchangeController
    prelabel: prelabel.PrelabelController
    training: training.TrainingFeature
    video: video_nav.VideoNavigator
    inspector: inspector_feature.InspectorFeature
    next_steps: next_steps_panel.NextStepsPanel

    def shutdown(self) -> None:
        """Reverse install order: the inspector and training before pre-labeling, editing last."""
        for f in reversed(fields(self)):
            getattr(self, f.name).shutdown()


def install_features(ctx: AppContext, *, file_view) -> Features:
    cls = classes.install(ctx)
    edit = editing.install(ctx, cls)
    objects = objects_list.install(ctx)
    space = SpaceTap(ctx.window)  # a Space tap in the lists verifies, as on the canvas
    space.tapped.connect(ctx.actions.by_id["verify_next"].trigger)
    space.watch(file_view, cls.panel.view, objects.view)
    return Features(
        classes=cls,
        editing=edit,
        objects=objects,
        exchange=export_actions.install(ctx),
        prelabel=prelabel.install(ctx, file_view),
        training=training.install(ctx),
        video=video_nav.install(ctx),
        inspector=inspector_feature.install(ctx, beside=cls.dock),
        next_steps=next_steps_panel.install(ctx),  # last: it reads what the others registered
    )
