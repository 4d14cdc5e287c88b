"""The Inspector dock in the main window follows the image on screen and the loaded model."""

from __future__ import annotations

import pytest

from waits import EVENT_MS, MODEL_MS
from rnxstudio.data.demo import make_shapes_dataset
from window_helpers import wait_for_image

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def test_inspector_dock_inspects_current_image_with_the_loaded_model(window, qtbot, tmp_path, qt_messages):
    from rnxstudio.ui.models import ModelChoice

    make_shapes_dataset(3, (128, 96), seed=2, out_dir=tmp_path / "imgs")
    assert window.open_path(tmp_path / "imgs")
    wait_for_image(qtbot, window)
    window.actions_by_id["toggle_inspector"].trigger()
    feature = window.features.inspector
    assert feature.dock.isVisible() and feature.panel is not None
    assert "Load a model" in feature.panel.hover_label.text()
    window.features.prelabel.load(ModelChoice(zoo_name="resnext_tiny_fpn", pretrained_backbone=False))
    qtbot.waitUntil(lambda: feature.panel.shown_image() is not None, timeout=MODEL_MS)
    assert "res3" in feature.panel.stages() and "P2" in feature.panel.stages()
    shown = feature.panel.shown_image()
    assert shown.shape[:2] == (96, 128)
    # a new image on screen is inspected too
    before = shown.copy()
    window.controller.step(+1)
    qtbot.waitUntil(lambda: feature.panel.shown_image() is not None
                    and (feature.panel.shown_image() != before).any(), timeout=EVENT_MS)
    window.actions_by_id["toggle_inspector"].trigger()
    assert not feature.dock.isVisible()
    window.close()
    assert not [m for m in qt_messages if "QThread" in m]
