"""UndoBridge over a real ProjectStore: exact apply/revert, refused edits leave no entry."""

from __future__ import annotations

import pytest

from waits import EVENT_MS
from rnxstudio.core import commands as cmd
from rnxstudio.core.model import Box, BoxSource, ImageRecord, ImageStatus

pytestmark = pytest.mark.gui


@pytest.fixture
def store(tmp_path):
    from rnxstudio.data.store import ProjectStore

    s = ProjectStore.create(tmp_path / "p.rnxproj", root=tmp_path)
    s.add_category("circle")
    s.add_category("square")
    s.add_images([ImageRecord("a.png", width=100, height=80), ImageRecord("b.png", width=50, height=50)])
    yield s
    s.close()


@pytest.fixture
def bridge(store, qtbot):
    from rnxstudio.ui.undo import UndoBridge

    return UndoBridge(store)


def snapshot(store):
    return {i: (store.image(i).status, sorted(store.boxes(i), key=lambda b: b.id)) for i in store.image_ids()}


def test_add_move_delete_undo_redo_restore_exactly(store, bridge, qtbot):
    a = store.image_ids()[0]
    changed = []
    bridge.changed.connect(changed.append)
    states = [snapshot(store)]
    add = cmd.AddBox(Box(10, 10, 40, 30, 1, image_id=a))
    assert bridge.push(add)
    states.append(snapshot(store))
    box_id = add.created.id
    assert bridge.push(cmd.MoveResizeBox(box_id, 20, 15, 60, 45))
    states.append(snapshot(store))
    assert bridge.push(cmd.DeleteBoxes([box_id]))
    states.append(snapshot(store))
    assert states[1][a][0] == ImageStatus.IN_PROGRESS and states[3][a][1] == []
    assert changed and set(changed) == {a}
    for want in reversed(states[:-1]):
        bridge.undo()
        assert snapshot(store) == want
    assert not bridge.can_undo()
    for want in states[1:]:
        bridge.redo()
        assert snapshot(store) == want
    assert store.boxes(a) == [] and bridge.stack.count() == 3


def test_refused_edit_leaves_no_entry_and_reports(store, bridge):
    a = store.image_ids()[0]
    failures = []
    bridge.failed.connect(failures.append)
    before = snapshot(store)
    assert not bridge.push(cmd.AddBox(Box(10, 10, 10.5, 30, 1, image_id=a)))  # under 1 px wide
    assert bridge.stack.count() == 0 and snapshot(store) == before
    assert failures and "Add box" in failures[0] and "minimum" in failures[0]
    assert not bridge.push(cmd.DeleteBoxes([12345]))  # no such box
    assert bridge.stack.count() == 0 and len(failures) == 2


def test_group_is_all_or_nothing(store, bridge):
    a = store.image_ids()[0]
    before = snapshot(store)
    ok = cmd.AddBox(Box(1, 1, 20, 20, 1, image_id=a))
    bad = cmd.AddBox(Box(300, 300, 400, 400, 1, image_id=a))  # entirely outside the image
    assert not bridge.push_group([ok, bad], "Paste")
    assert snapshot(store) == before and bridge.stack.count() == 0
    good = [cmd.AddBox(Box(1, 1, 20, 20, 1, image_id=a)), cmd.AddBox(Box(30, 30, 50, 50, 2, image_id=a))]
    assert bridge.push_group(good, "Paste 2 boxes")
    assert bridge.stack.count() == 1 and len(store.boxes(a)) == 2
    bridge.undo()
    assert snapshot(store) == before


def test_nudges_of_one_box_merge_into_one_step(store, bridge):
    a = store.image_ids()[0]
    add = cmd.AddBox(Box(10, 10, 40, 30, 1, image_id=a))
    bridge.push(add)
    bid = add.created.id
    for k in range(1, 6):
        bridge.push(cmd.MoveResizeBox(bid, 10 + k, 10, 40 + k, 30))
    assert bridge.stack.count() == 2  # add + one merged move
    assert store.get_box(bid).xyxy == (15, 10, 45, 30)
    bridge.undo()
    assert store.get_box(bid).xyxy == (10, 10, 40, 30)
    bridge.redo()
    assert store.get_box(bid).xyxy == (15, 10, 45, 30)


def test_accept_prediction_round_trip(store, bridge):
    a = store.image_ids()[0]
    [pred] = store.set_predictions(a, [Box(5, 5, 30, 30, 2, image_id=a, source=BoxSource.PREDICTED, score=0.8)],
                                   model_name="tiny")
    before = snapshot(store)
    assert bridge.push(cmd.AcceptPredictions([pred.id]))
    [acc] = store.boxes(a)
    assert acc.source == BoxSource.ACCEPTED and acc.xyxy == pred.xyxy
    bridge.undo()
    assert snapshot(store) == before


def test_failed_undo_clears_history_and_reports(store, bridge, qtbot):
    a = store.image_ids()[0]
    add = cmd.AddBox(Box(10, 10, 40, 30, 1, image_id=a))
    bridge.push(add)
    store.delete_box(add.created.id)  # someone changed the store behind the stack's back
    failures = []
    bridge.failed.connect(failures.append)
    bridge.undo()
    assert failures and "undo history cleared" in failures[0]
    qtbot.waitUntil(lambda: bridge.stack.count() == 0, timeout=EVENT_MS)


def test_undo_action_text_follows_the_stack(store, bridge, qtbot):
    from PySide6.QtWidgets import QWidget

    w = QWidget()
    qtbot.addWidget(w)
    action = bridge.create_undo_action(w)
    assert not action.isEnabled()
    bridge.push(cmd.AddBox(Box(10, 10, 40, 30, 1, image_id=store.image_ids()[0])))
    assert action.isEnabled() and "Add box" in action.text()
