"""Undoable commands over the real ProjectStore: each is an exact inverse, ids come back."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnxstudio.core.commands import (
    AcceptAllAbove,
    AcceptPredictions,
    AddBox,
    BoxStore,
    DeleteBoxes,
    MoveResizeBox,
    PasteBoxes,
    RejectPredictions,
    Relabel,
    SetStatus,
)
from rnxstudio.core.history import UndoHistory
from rnxstudio.core.model import Box, BoxSource, ImageRecord, ImageStatus, InvalidBoxError
from rnxstudio.data.store import ProjectStore
from edit_strategies import command_for, op, prediction_run


def make_store(folder: Path) -> ProjectStore:
    store = ProjectStore.create(folder / "p.rnxproj", root=folder, durability="normal")
    store.add_category("cat")
    store.add_category("dog")
    store.add_images([ImageRecord(f"img{i}.png", width=100, height=80) for i in range(3)])
    return store


def snapshot(store: ProjectStore) -> tuple:
    images = tuple(store.images())
    boxes = tuple(b for i in store.image_ids() for b in store.boxes(i))
    return images, boxes


@pytest.fixture
def store(tmp_path):
    with make_store(tmp_path) as s:
        yield s


def test_store_satisfies_protocol(store):
    assert isinstance(store, BoxStore)


def test_add_box_clips_and_undo_restores_status(store):
    h = UndoHistory(store)
    before = snapshot(store)
    cmd = h.push(AddBox(Box(-10, 5, 50, 200, category_id=1, image_id=1)))
    assert cmd.created.xyxy == (0.0, 5.0, 50.0, 80.0)
    assert store.image(1).status is ImageStatus.IN_PROGRESS
    assert h.undo_text == "Add box"
    h.undo()
    assert snapshot(store) == before
    h.redo()
    assert store.boxes(1) == [cmd.created]  # same id on redo


def test_add_box_refuses_tiny_and_unknown_size(store):
    with pytest.raises(InvalidBoxError):
        AddBox(Box(10, 10, 10.5, 40, category_id=1, image_id=1)).apply(store)
    with pytest.raises(InvalidBoxError):  # entirely outside the image
        AddBox(Box(200, 10, 300, 40, category_id=1, image_id=1)).apply(store)
    store.add_images([ImageRecord("unsized.png")])
    with pytest.raises(InvalidBoxError, match="not known"):
        AddBox(Box(1, 1, 20, 20, category_id=1, image_id=4)).apply(store)
    assert store.boxes(1) == [] and store.boxes(4) == []


def test_delete_undo_brings_back_same_ids(store):
    a = store.add_box(Box(1, 1, 20, 20, category_id=1, image_id=1))
    b = store.add_box(Box(5, 5, 30, 30, category_id=2, image_id=2))
    before = snapshot(store)
    h = UndoHistory(store)
    h.push(DeleteBoxes([a.id, b.id]))
    assert store.boxes(1) == [] and store.boxes(2) == []
    h.undo()
    assert snapshot(store) == before
    assert store.get_box(a.id) == a


def test_move_resize_and_relabel(store):
    a = store.add_box(Box(1, 1, 20, 20, category_id=1, image_id=1))
    before = snapshot(store)
    h = UndoHistory(store)
    h.push(MoveResizeBox(a.id, 90, 70, 50, 200))  # corners swapped, bottom outside
    assert store.get_box(a.id).xyxy == (50.0, 70.0, 90.0, 80.0)
    h.push(Relabel([a.id], 2))
    assert store.get_box(a.id).category_id == 2
    with pytest.raises(InvalidBoxError):
        MoveResizeBox(a.id, 10, 10, 10.2, 50).apply(store)
    h.undo()
    h.undo()
    assert snapshot(store) == before


def test_accept_reject_predictions(store):
    preds = store.set_predictions(3, [Box(1, 1, 20, 20, 1, score=0.9), Box(30, 30, 60, 60, 2, score=0.3),
                                      Box(10, 40, 50, 70, 1, score=0.6)], model_name="m")
    assert store.image(3).status is ImageStatus.PREDICTED
    before = snapshot(store)
    h = UndoHistory(store)
    cmd = h.push(AcceptAllAbove(3, 0.5))
    accepted = [b for b in store.boxes(3) if b.source is BoxSource.ACCEPTED]
    assert len(accepted) == 2 and {b.id for b in accepted}.isdisjoint(p.id for p in preds)
    assert store.image(3).status is ImageStatus.IN_PROGRESS
    assert {b.xyxy for b in accepted} == {preds[0].xyxy, preds[2].xyxy}
    h.undo()
    assert snapshot(store) == before  # predictions restored exactly, same ids, status predicted
    h.redo()
    assert [b for b in store.boxes(3) if b.source is BoxSource.ACCEPTED] == cmd.accepted == accepted
    h.push(RejectPredictions([preds[1].id]))
    assert [b.source for b in store.boxes(3)] == [BoxSource.ACCEPTED] * 2
    with pytest.raises(ValueError, match="not a prediction"):
        RejectPredictions([accepted[0].id]).apply(store)
    with pytest.raises(ValueError, match="not a prediction"):
        AcceptPredictions([accepted[0].id]).apply(store)
    while h.can_undo:
        h.undo()
    assert snapshot(store) == before


def test_editing_a_prediction_makes_it_the_persons(store):
    (p,) = store.set_predictions(1, [Box(1, 1, 20, 20, 1, score=0.8)], model_name="m")
    UndoHistory(store).push(MoveResizeBox(p.id, 2, 2, 30, 30))
    assert store.get_box(p.id).source is BoxSource.ACCEPTED
    store.set_predictions(1, [], model_name="m2")  # re-predicting must keep the corrected box
    assert store.get_box(p.id).xyxy == (2.0, 2.0, 30.0, 30.0)


def test_paste_touches_only_destination(store):
    store.add_box(Box(10, 10, 95, 40, category_id=1, image_id=1, track_id=7))
    store.set_predictions(1, [Box(1, 1, 20, 20, 2, score=0.9)], model_name="m")
    store.add_images([ImageRecord("small.png", width=50, height=50)])
    src_before = (store.image(1), store.boxes(1))
    h = UndoHistory(store)
    cmd = h.push(PasteBoxes(1, 4))
    assert cmd.touched_images == [4]
    assert (store.image(1), store.boxes(1)) == src_before
    (pasted,) = store.boxes(4)  # the prediction is not pasted
    assert pasted.xyxy == (10.0, 10.0, 50.0, 40.0) and pasted.track_id == 7
    assert pasted.source is BoxSource.MANUAL and cmd.created == [pasted]
    h.undo()
    assert store.boxes(4) == [] and store.image(4).status is ImageStatus.UNLABELED


def test_set_status_and_history_stacks(store):
    h = UndoHistory(store)
    assert h.undo() is None and h.redo() is None and not h.can_undo
    h.push(SetStatus(2, ImageStatus.VERIFIED))
    assert store.image(2).status is ImageStatus.VERIFIED and h.undo_text == "Mark verified"
    h.undo()
    assert store.image(2).status is ImageStatus.UNLABELED and h.can_redo
    h.push(SetStatus(2, ImageStatus.IN_PROGRESS))
    assert not h.can_redo  # a new edit clears redo


def test_failed_command_changes_nothing(store):
    a = store.add_box(Box(1, 1, 20, 20, category_id=1, image_id=1))
    before = snapshot(store)
    with pytest.raises(Exception):
        Relabel([a.id], 999).apply(store)  # no such category: foreign key
    assert snapshot(store) == before


# --------------------------------------------------------------------------- hypothesis
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=12))
def test_random_edit_sequences_revert_exactly(tmp_path_factory, ops):
    folder = tmp_path_factory.mktemp("hyp")
    with make_store(folder) as store:
        initial = snapshot(store)
        h = UndoHistory(store)
        states = [initial]
        for k, o in enumerate(ops):
            if o[0] == "predict":  # model output is not an undoable edit; here it starts a new history
                store.set_predictions(o[1], prediction_run(k, o[2]), model_name="m")
                h = UndoHistory(store)
                initial = snapshot(store)
                states = [initial]
                continue
            cmd = command_for(store, o) if o[0] != "undo" else None
            if cmd is None:
                continue
            try:
                h.push(cmd)
            except InvalidBoxError:
                assert snapshot(store) == states[-1]  # refused edits leave no trace
                continue
            states.append(snapshot(store))
        after = snapshot(store)
        for expected in reversed(states[:-1]):
            h.undo()
            assert snapshot(store) == expected
        assert snapshot(store) == initial
        while h.can_redo:
            h.redo()
        assert snapshot(store) == after
