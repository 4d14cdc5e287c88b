"""The demo project (data/demo_project.py) and the next-steps text (data/next_steps.py): six
classes with the new one well represented, half verified, the preferred model recorded, and
next steps that follow the project's state and name only real actions."""

from __future__ import annotations

from collections import Counter

import pytest

from rnxstudio.core.model import BoxSource, ImageStatus
from rnxstudio.data.demo import CLASSES, DEMO_CLASSES, DEMO_IMAGES, NEW_CLASS, make_shapes_dataset
from rnxstudio.data.demo_project import DEMO_MODEL, demo_root, prepare_demo_project, preferred_model
from rnxstudio.data.next_steps import NextStep, next_steps, placeholders, render
from rnxstudio.data.project import open_project


def test_the_new_class_is_drawn_only_when_asked_for_and_in_proportion():
    default = make_shapes_dataset(30, 96, seed=5)
    assert [c["name"] for c in default["categories"]] == list(CLASSES)
    demo = make_shapes_dataset(60, 96, seed=5, classes=DEMO_CLASSES, class_weights=(1, 1, 1, 1, 1, 5))
    names = {c["id"]: c["name"] for c in demo["categories"]}
    counts = Counter(names[a["category_id"]] for a in demo["annotations"])
    assert counts[NEW_CLASS] > 2 * max(counts[c] for c in CLASSES)
    only = make_shapes_dataset(5, 96, seed=5, classes=(NEW_CLASS, "circle"), class_weights=(1, 0))
    assert {a["category_id"] for a in only["annotations"]} == {1}
    with pytest.raises(ValueError, match="distinct names"):
        make_shapes_dataset(2, 96, classes=("heptagon",))
    with pytest.raises(ValueError, match="one non-negative weight per class"):
        make_shapes_dataset(2, 96, classes=("circle", "ring"), class_weights=(1,))


def test_demo_project_is_half_verified_with_all_six_classes_and_the_demo_model():
    images = prepare_demo_project()
    assert images.parent == demo_root() and demo_root().name.startswith("v")
    store = open_project(images)
    try:
        assert [c.name for c in store.categories()] == list(DEMO_CLASSES)
        counts = store.status_counts()
        assert counts[ImageStatus.VERIFIED] == counts[ImageStatus.UNLABELED] == store.count_images() // 2
        assert preferred_model(store) == DEMO_MODEL and store.meta("new_class") == NEW_CLASS
        cross = store.category_by_name(NEW_CLASS)
        verified = store.image_ids(status=ImageStatus.VERIFIED)
        n_cross = sum(1 for i in verified for b in store.boxes(i) if b.category_id == cross.id)
        assert n_cross >= 60  # enough for a short fine-tune to learn it
        steps = next_steps(store, model="Demo detector")
    finally:
        store.close()
    assert [s.action for s in steps] == ["prelabel_all", "verify_next", "finetune"]
    half = DEMO_IMAGES // 2
    assert f"{half} unlabelled images with Demo detector" in steps[0].text
    assert f"{half} verified images" in steps[2].text and f"'{NEW_CLASS}'" in steps[2].text
    # opening again changes nothing (no second import)
    assert prepare_demo_project() == images
    with open_project(images) as again:
        assert again.status_counts()[ImageStatus.VERIFIED] == counts[ImageStatus.VERIFIED]


def test_next_steps_follow_the_project_state(tmp_path):
    make_shapes_dataset(3, 64, seed=1, out_dir=tmp_path / "imgs")
    store = open_project(tmp_path / "imgs")
    try:
        first = next_steps(store)
        assert "3 unlabelled images" in first[0].text and not first[0].done
        assert first[2].text.startswith("Fine-tune once some images are verified")
        cat = store.add_category("circle")
        ids = store.image_ids()
        from rnxstudio.core.model import Box

        store.set_predictions(ids[0], [Box(id=0, image_id=ids[0], category_id=cat.id, x1=1, y1=1, x2=9, y2=9,
                                           source=BoxSource.PREDICTED, score=0.9)], model_name="m")
        store.set_status(ids[1], ImageStatus.VERIFIED)
        steps = next_steps(store)
    finally:
        store.close()
    assert "1 unlabelled image " in steps[0].text
    assert "(1 image waiting)" in steps[1].text
    assert "1 verified image" in steps[2].text and "never seen" not in steps[2].text


def test_no_project_steps_and_rendering():
    steps = next_steps(None)
    assert steps[0].action == "open_demo" and "offline" in steps[0].text
    text = render(NextStep("verify_next", "Correct ({accept} accept), then {verify_next}"), {"accept": "Enter"})
    assert text == "Correct (Enter accept), then verify_next"


@pytest.mark.gui  # reads the ui action table (imports Qt)
def test_every_action_named_by_a_step_exists_in_the_gui_action_table(tmp_path):
    pytest.importorskip("PySide6")
    from rnxstudio.ui.actions import ACTIONS

    ids = {a.id for a in ACTIONS}
    make_shapes_dataset(2, 64, seed=1, out_dir=tmp_path / "imgs")
    with open_project(tmp_path / "imgs") as store:
        steps = next_steps(None) + next_steps(store)
    for step in steps:
        assert step.action in ids, step
        for name in placeholders(step.text):
            assert name in ids, (name, step.text)
