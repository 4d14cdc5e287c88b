"""Issue 15, items 1, 2, 3 and 16, at the session: verifying never drops the predictions the
person sees; a re-run neither duplicates a person's boxes nor brings back a rejected
prediction; a model's classes reach the project only through a remembered mapping; every box
says how it came to be. Each test below is written against the API both today's code and the
code before it have (``set_predictions``, ``push``, ``verify``), so it fails there for the bug,
not for a missing name (the report of issue 15 lists which were run on 2765c21)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnxstudio.core import commands as cmd
from rnxstudio.core.model import Box, BoxSource, ImageStatus


from test_session import make_session, session  # noqa: F401 - the same small project and its fixture


def preds(store, image_id):
    return [b for b in store.boxes(image_id) if b.source is BoxSource.PREDICTED]


def mine(store, image_id):
    return store.boxes(image_id, include_predictions=False)


RUN = [Box(10, 10, 40, 40, 1, score=0.9), Box(50, 20, 90, 70, 2, score=0.6), Box(5, 50, 20, 75, 1, score=0.2)]


# ------------------------------------------------------------------ item 1: verify keeps what is shown
def test_verifying_with_visible_predictions_accepts_them_in_one_undo_step(session):
    store = session.store
    session.set_predictions(1, RUN, model_name="m")
    assert session.verify(1, shown_from=0.5)
    assert store.image(1).status is ImageStatus.VERIFIED
    kept = mine(store, 1)
    assert sorted((b.category_id, b.score) for b in kept) == [(1, 0.9), (2, 0.6)]  # not the 0.2 one
    assert all(b.provenance == "accepted" and b.model_name == "m" for b in kept)
    assert [b.score for b in preds(store, 1)] == [0.2]  # below the slider: left as a prediction
    export = store.to_labelset(verified_only=True)
    assert export.num_boxes == 2  # a verified-only export is not empty
    session.undo()
    assert store.image(1).status is ImageStatus.PREDICTED and mine(store, 1) == [] and len(preds(store, 1)) == 3


def test_verify_default_never_leaves_a_verified_image_empty_under_predictions(session):
    session.set_predictions(1, RUN[:1], model_name="m")
    session.verify(1)  # the call the GUI made before issue 15
    assert session.store.image(1).status is ImageStatus.VERIFIED
    assert len(mine(session.store, 1)) == 1


def test_verify_without_predictions_is_the_persons_explicit_choice(session):
    session.set_predictions(1, RUN, model_name="m")
    assert session.verify(1, shown_from=0.5, predictions="leave")
    assert mine(session.store, 1) == [] and len(preds(session.store, 1)) == 3
    with pytest.raises(ValueError):
        session.verify(2, predictions="sometimes")


# ------------------------------------------------------------------ item 2: no duplicates, no resurrection
def test_a_rerun_does_not_show_again_what_a_person_already_accepted(session):
    store = session.store
    first = session.set_predictions(1, RUN, model_name="m")
    session.push(cmd.AcceptPredictions([first[0].id]))
    again = session.set_predictions(1, RUN, model_name="m")
    assert len(again) == 2 and all(b.xyxy != RUN[0].xyxy for b in again)
    session.push(cmd.AcceptAllAbove(1, 0.0))  # Ctrl+Enter after the re-run
    boxes = mine(store, 1)
    assert len(boxes) == 3 and len({b.xyxy for b in boxes}) == 3  # no box twice


def test_a_rerun_does_not_show_a_prediction_over_a_drawn_box_of_the_same_class(session):
    session.push(cmd.AddBox(Box(11, 11, 41, 41, 1, image_id=1)))  # IoU with RUN[0] ~ 0.88
    session.push(cmd.AddBox(Box(50, 20, 90, 70, 1, image_id=1)))  # RUN[1]'s place, another class
    stored = session.set_predictions(1, RUN, model_name="m")
    assert sorted(b.category_id for b in stored) == [1, 2] and RUN[0].xyxy not in {b.xyxy for b in stored}


def test_the_duplicate_iou_is_a_project_setting(session):
    session.push(cmd.AddBox(Box(15, 15, 45, 45, 1, image_id=1)))  # IoU with RUN[0] = 0.53
    assert len(session.set_predictions(1, RUN, model_name="m")) == 3
    session.set_duplicate_iou(0.5)
    assert len(session.set_predictions(1, RUN, model_name="m")) == 2
    assert session.duplicate_iou == 0.5
    with pytest.raises(ValueError):
        session.set_duplicate_iou(0)


def test_one_object_found_as_two_classes_is_stored_once_unless_the_project_says_otherwise(session):
    from rnxstudio.core.model import one_per_object

    twice = [Box(10, 10, 40, 40, 1, score=0.7), Box(11, 10, 41, 40, 2, score=0.9),  # one object, IoU 0.94
             Box(30, 30, 60, 60, 2, score=0.8)]  # another one overlapping it at IoU 0.14: stays
    stored = session.set_predictions(1, twice, model_name="m")
    assert session.one_box_per_object
    assert sorted((b.category_id, b.score) for b in stored) == [(2, 0.8), (2, 0.9)]  # the likelier class
    session.set_one_box_per_object(False)
    assert len(session.set_predictions(1, twice, model_name="m")) == 3
    assert session.store.meta("review.one_box_per_object") == "0"  # kept in the project file
    # the rule itself: best score first, any class, unscored boxes count as certain
    kept = one_per_object([Box(0, 0, 10, 10, 1, score=0.99), Box(0, 0, 10, 10, 2), Box(0, 0, 10, 9, 3, score=0.5)])
    assert [(b.category_id, b.score) for b in kept] == [(2, None)]
    assert len(one_per_object(twice, threshold=0.95)) == 3


def test_a_rejected_prediction_stays_rejected_for_that_model_version(session):
    store = session.store
    first = session.set_predictions(1, RUN, model_name="m", model_version="m@1")
    session.push(cmd.RejectPredictions([first[1].id]))
    again = session.set_predictions(1, RUN, model_name="m", model_version="m@1")
    assert len(again) == 2 and RUN[1].xyxy not in {b.xyxy for b in again}
    other = session.set_predictions(1, RUN, model_name="m", model_version="m@2")  # a new version may say it again
    assert len(other) == 3
    assert store.corrected_image_ids() == [1]  # a rejection is a correction


def test_a_rejected_prediction_stays_rejected_by_model_name(session):
    first = session.set_predictions(1, RUN, model_name="m")
    session.push(cmd.RejectPredictions([first[1].id]))
    assert len(session.set_predictions(1, RUN, model_name="m")) == 2


def test_undoing_a_reject_forgets_it(session):
    first = session.set_predictions(1, RUN, model_name="m", model_version="v")
    session.push(cmd.DeleteBoxes([first[0].id]))  # Delete on a prediction rejects it too
    assert session.store.count_rejections() == 1
    session.undo()
    assert session.store.count_rejections() == 0
    assert len(session.set_predictions(1, RUN, model_name="m", model_version="v")) == 3


def test_accepting_an_old_duplicate_prediction_removes_it_instead(session):
    store = session.store
    session.push(cmd.AddBox(Box(10, 10, 40, 40, 1, image_id=1)))
    store.set_predictions(1, RUN[:1], model_name="m")  # stored before the session filtered (old project)
    accept = cmd.AcceptAllAbove(1, 0.0)
    session.push(accept)
    assert len(mine(store, 1)) == 1 and preds(store, 1) == [] and len(accept.dropped) == 1
    session.undo()
    assert len(preds(store, 1)) == 1


# ------------------------------------------------------------------ item 3: the class mapping
def test_model_classes_need_a_mapping_and_it_is_remembered(session):
    from rnxstudio.data.classmap import NEW

    classes = ["circle", "square", "Cat", "dog"]
    assert session.class_mapping(classes) is None  # they differ: the mapping step is needed
    assert session.proposed_mapping(classes) == {"circle": None, "square": None, "Cat": 1, "dog": 2}
    mapping = session.set_class_mapping(classes, {"circle": 2, "square": NEW, "Cat": 1, "dog": 2}, model_name="demo")
    names = [c.name for c in session.store.categories()]
    assert names == ["cat", "dog", "square"]  # only what the person asked for was added
    assert mapping.category_ids() == [2, 3, 1, 2]  # many-to-one: circle and dog -> dog
    again = session.class_mapping(classes)
    assert again is not None and again.category_ids() == [2, 3, 1, 2] and again.model_name == "demo"


def test_same_named_classes_need_no_mapping_step(session):
    mapping = session.class_mapping(["dog", "cat"])
    assert mapping is not None and mapping.category_ids() == [2, 1]


def test_ignored_classes_are_not_predicted(session):
    pytest.importorskip("torch")
    import numpy as np

    from rnxstudio.ml.predict import Detections

    mapping = session.set_class_mapping(["circle", "square"], {"circle": 2, "square": None})
    det = Detections(np.array([[1, 1, 20, 20], [30, 30, 60, 60]], np.float32), np.array([0.9, 0.8], np.float32),
                     np.array([1, 2]), ["circle", "square"], (100, 80))
    boxes = det.to_boxes(mapping.category_ids(), image_id=1)
    assert [(b.category_id, b.xyxy) for b in boxes] == [(2, (1.0, 1.0, 20.0, 20.0))]


def test_the_mapping_survives_rename_and_follows_a_merge(session):
    classes = ["circle", "ring"]
    session.set_class_mapping(classes, {"circle": 1, "ring": 2})
    assert session.rename_category(1, "round thing")
    assert session.class_mapping(classes).category_ids() == [1, 2]
    assert session.merge_categories(2, 1)
    assert session.class_mapping(classes).category_ids() == [1, 1]


def test_a_deleted_target_class_asks_again(session):
    classes = ["circle"]
    session.set_class_mapping(classes, {"circle": 2})
    assert session.delete_category(2)
    assert session.class_mapping(classes) is None
    assert session.proposed_mapping(classes) == {"circle": None}


# ------------------------------------------------------------------ item 16: provenance
def test_every_box_says_how_it_came_to_be(session):
    store = session.store
    draw = cmd.AddBox(Box(60, 5, 90, 30, 2, image_id=1))
    session.push(draw)
    p = session.set_predictions(1, RUN[:2], model_name="m", model_version="m@1")
    accept = cmd.AcceptPredictions([p[0].id, p[1].id])
    session.push(accept)
    acc0, acc1 = accept.accepted
    session.push(cmd.MoveResizeBox(acc1.id, 52, 22, 90, 70))
    by_id = {b.id: b for b in mine(store, 1)}
    assert by_id[draw.created.id].provenance == "drawn"
    assert (by_id[acc0.id].provenance, by_id[acc0.id].model_name, by_id[acc0.id].score) == ("accepted", "m", 0.9)
    assert by_id[acc0.id].model_version == "m@1"
    assert (by_id[acc1.id].provenance, by_id[acc1.id].score) == ("edited", 0.6)
    q = session.set_predictions(2, RUN[:1], model_name="m")
    session.push(cmd.Relabel([q[0].id], 2))  # relabelling a prediction directly edits it
    assert store.get_box(q[0].id).provenance == "edited"
    session.undo()
    assert store.get_box(q[0].id).provenance == "predicted"


def test_corrected_images_are_those_a_person_changed(session):
    store = session.store
    p = session.set_predictions(1, RUN[:1], model_name="m")
    session.push(cmd.AcceptPredictions([p[0].id]))  # accepted as it was: not a correction
    q = session.set_predictions(2, RUN[:1], model_name="m")
    session.push(cmd.AcceptPredictions([q[0].id]))
    session.push(cmd.MoveResizeBox(store.boxes(2)[0].id, 12, 12, 40, 40))
    session.push(cmd.AddBox(Box(5, 5, 30, 30, 1, image_id=3)))
    assert store.corrected_image_ids() == [2, 3]


def test_coco_export_writes_provenance_only_when_asked(session, tmp_path):
    p = session.set_predictions(1, RUN[:1], model_name="m")
    session.push(cmd.AcceptPredictions([p[0].id]))
    session.push(cmd.AddBox(Box(50, 5, 90, 30, 2, image_id=1)))
    plain = _export(session, tmp_path / "plain.json", provenance=False)
    assert all("attributes" not in a for a in plain["annotations"])
    rich = _export(session, tmp_path / "rich.json", provenance=True)
    attrs = sorted((a["attributes"]["provenance"], a["attributes"].get("model"), a["attributes"].get("score"))
                   for a in rich["annotations"])
    assert attrs == [("accepted", "m", 0.9), ("drawn", None, None)]


def _export(session, out: Path, provenance: bool) -> dict:
    import numpy as np
    from PIL import Image

    for r in session.store.images():
        path = Path(session.store.absolute_path(r))
        if not path.exists():
            Image.fromarray(np.zeros((80, 100, 3), np.uint8)).save(path)
    session.export_labels("coco", out, provenance=provenance)
    return json.loads(out.read_text())
