"""The first minutes in the window: with no project a "Next steps" dock names three actions and
their keys; the demo project opens with the shipped ``demo`` detector selected, the dock (shown on
the demo's first open only) walks through pre-label -> correct -> fine-tune, and pre-labeling an
unverified demo image at the default confidence gives boxes that match the generator's truth."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QApplication
from waits import EVENT_MS, MODEL_MS

from rnxstudio.core.model import BoxSource, ImageStatus


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_no_project_shows_three_next_steps_with_their_keys(window, qtbot):
    panel = window.features.next_steps
    qtbot.waitUntil(panel.dock.isVisible, timeout=EVENT_MS)
    lines = panel.lines()
    assert len(lines) == 3
    assert "demo project" in lines[0] and "[Ctrl+Alt+D]" in lines[0]
    assert "folder" in lines[1] and "[Ctrl+O]" in lines[1] and "Ctrl+Shift+O" in lines[1]
    assert "[F1]" in lines[2]
    assert QApplication.activeModalWidget() is None  # no tour, nothing modal
    assert panel.rows[0][2].isEnabled()


def test_demo_opens_with_its_model_and_prelabels_well(window, qtbot, qt_messages):
    panel, models = window.features.next_steps, window.ctx.models
    assert window.open_demo()
    store = window.controller.store
    assert models.choice is not None and models.choice.zoo_name == "demo"
    qtbot.waitUntil(lambda: models.loaded, timeout=MODEL_MS)
    assert models.origin != "random"
    assert panel.dock.isVisible()  # the demo's first open
    lines = panel.lines()
    assert lines[0].startswith("Pre-label the 80 unlabelled images with demo") and lines[0].endswith("[Ctrl+Shift+R]")
    assert "W draw" in lines[1] and "R reject" in lines[1] and lines[1].endswith("[Space]")
    assert "80 verified images" in lines[2] and "'cross'" in lines[2] and lines[2].endswith("[Ctrl+T]")

    # the fine-tune dialog starts from the demo model with the fine-tuning recipe, not from scratch
    training = window.features.training.controller
    opts = training.default_options()
    assert opts.base == "demo" and opts.pretrained_backbone and opts.trainable_layers == 2
    dlg = training.make_dialog()
    assert dlg.options().base == "demo"
    dlg.close()
    training.dialog = None

    # pre-label five unverified images; what shows at the default confidence matches the truth
    truth = json.loads((Path(window.controller.source_path) / "annotations.json").read_text())
    by_name = {im["file_name"]: im["id"] for im in truth["images"]}
    cats = {c["id"]: c["name"] for c in truth["categories"]}
    threshold = window.features.classes.threshold
    unverified = store.image_ids(status=ImageStatus.UNLABELED)[:5]
    hits = total = shown_wrong = 0
    for image_id in unverified:
        window.controller.set_current(image_id)
        qtbot.waitUntil(lambda: window.controller.current is not None and window.controller.current.id == image_id,
                        timeout=EVENT_MS)
        with qtbot.waitSignal(window.features.prelabel.result, timeout=MODEL_MS):
            assert window.features.prelabel.prelabel_current()
        rec = store.image(image_id)
        shown = [b for b in store.boxes(image_id) if b.source == BoxSource.PREDICTED and (b.score or 0) >= threshold]
        names = {c.id: c.name for c in store.categories()}
        gt = [a for a in truth["annotations"] if a["image_id"] == by_name[Path(rec.path).name]]
        for a in gt:
            if cats[a["category_id"]] == "cross":  # the class the shipped model has never seen
                continue
            x, y, w, h = a["bbox"]
            total += 1
            hits += any(names[b.category_id] == cats[a["category_id"]] and
                        _iou((x, y, x + w, y + h), (b.x1, b.y1, b.x2, b.y2)) >= 0.5 for b in shown)
        shown_wrong += sum(names[b.category_id] == "cross" for b in shown)
    assert total > 0 and hits / total >= 0.8, (hits, total)
    assert shown_wrong == 0
    qtbot.waitUntil(lambda: "unlabelled images" in panel.lines()[0] and "75" in panel.lines()[0], timeout=EVENT_MS)
    assert not [m for m in qt_messages if "QThread" in m]

    # the second open of the same demo: the dock stays out of the way
    assert window.open_demo()
    assert not panel.dock.isVisible()
