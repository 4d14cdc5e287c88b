"""Random sequences of a person's edits and model runs, shared by the history property tests
(tests/unit/test_commands.py on a bare store, tests/unit/test_session.py through the session)."""

from __future__ import annotations

from hypothesis import strategies as st

from rnxstudio.core import commands as cmd
from rnxstudio.core.model import Box, BoxSource, ImageStatus

coords = st.floats(-20, 120, allow_nan=False)
op = st.one_of(
    st.tuples(st.just("add"), st.integers(1, 3), coords, coords, coords, coords, st.integers(1, 2)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("move"), st.integers(0, 50), coords, coords, coords, coords),
    st.tuples(st.just("relabel"), st.integers(0, 50), st.integers(1, 2)),
    st.tuples(st.just("predict"), st.integers(1, 3), st.integers(0, 3)),
    st.tuples(st.just("accept"), st.integers(0, 50)),
    st.tuples(st.just("accept_above"), st.integers(1, 3), st.floats(0, 1)),
    st.tuples(st.just("reject"), st.integers(0, 50)),
    st.tuples(st.just("paste"), st.integers(1, 3), st.integers(1, 3)),
    st.tuples(st.just("status"), st.integers(1, 3), st.sampled_from(list(ImageStatus))),
    st.tuples(st.just("undo")),
)


def command_for(store, o: tuple) -> cmd.Command | None:
    """The command for op ``o`` on the store as it is now (None: nothing to do, or a model run /
    an undo, which the caller handles)."""
    boxes = [b for i in store.image_ids() for b in store.boxes(i)]
    predicted = [b for b in boxes if b.source is BoxSource.PREDICTED]
    kind = o[0]
    if kind == "add":
        return cmd.AddBox(Box(o[2], o[3], o[4], o[5], category_id=o[6], image_id=o[1]))
    if kind in ("delete", "move", "relabel") and boxes:
        bid = boxes[o[1] % len(boxes)].id
        if kind == "delete":
            return cmd.DeleteBoxes([bid])
        if kind == "move":
            return cmd.MoveResizeBox(bid, *o[2:6])
        return cmd.Relabel([bid], o[2])
    if kind in ("accept", "reject") and predicted:
        bid = predicted[o[1] % len(predicted)].id
        return cmd.AcceptPredictions([bid]) if kind == "accept" else cmd.RejectPredictions([bid])
    if kind == "accept_above":
        return cmd.AcceptAllAbove(o[1], o[2])
    if kind == "paste" and o[1] != o[2]:
        return cmd.PasteBoxes(o[1], o[2])
    if kind == "status":
        return cmd.SetStatus(o[1], o[2])
    return None


def prediction_run(k: int, n: int) -> list[Box]:
    """The boxes of the k-th model run: ``n`` predictions of both classes."""
    return [Box(5 + 10 * j, 5 + k, 30 + 10 * j, 40, 1 + j % 2, score=0.2 * j + 0.1) for j in range(n)]
