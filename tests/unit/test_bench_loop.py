"""The loop benchmark: its cost arithmetic on a hand-computed case, the simulated annotator on a
hand-made image (through a real project session), the hard-scene generator, and a two-round
miniature of `rnxstudio bench loop` end to end."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from rnxstudio.bench.loop_annotator import Actions, Costs, annotate, check_labels, drawing_seconds, loop_seconds, pair
from rnxstudio.core.model import Box, BoxSource
from rnxstudio.data.project import create_project
from rnxstudio.data.session import ProjectSession


def test_cost_arithmetic_hand_computed():
    # 2 images, 7 true boxes: 3 accepted, 1 relabelled, 1 adjusted, 2 drawn; 2 false positives rejected
    a = Actions(images=2, truth=7, accepted=3, relabelled=1, adjusted=1, rejected=2, drawn=2, accept_all_images=2)
    c = Costs()  # draw 7.0, verify 1.6; derived: reject 1.6, relabel 3.2, adjust 1.6 + 3.5 = 5.1, image 1.6
    assert drawing_seconds(a, c) == pytest.approx(2 * 1.6 + 7 * 7.0)  # 52.2
    fixes = 1 * 3.2 + 1 * 5.1 + 2 * 1.6 + 2 * 7.0  # 25.5
    assert loop_seconds(a, c, "one") == pytest.approx(2 * 1.6 + fixes + 3 * 1.6)  # 33.5
    assert loop_seconds(a, c, "all") == pytest.approx(2 * 1.6 + fixes + 2 * 1.6)  # 31.9
    slow = Costs(draw=25.5, verify=2.0, adjust=9.0)  # explicit costs win over derived ones
    assert slow.resolved().adjust == 9.0 and slow.resolved().relabel == 4.0
    assert drawing_seconds(a, slow) == pytest.approx(2 * 2.0 + 7 * 25.5)
    assert {row[0] for row in c.table()} == {"draw", "verify", "reject", "relabel", "adjust", "image", "accept_all"}


def test_pairing_prefers_the_right_class_then_iou():
    t = [Box(0, 0, 10, 10, category_id=1), Box(20, 0, 30, 10, category_id=2)]
    p = [Box(0, 0, 10, 10, category_id=2, id=7), Box(0, 0, 10, 9, category_id=1, id=8)]
    assert pair(p, t) == [(1, 0, pytest.approx(0.9))]  # the right class wins over a higher IoU


@pytest.fixture
def session(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.zeros((100, 200, 3), np.uint8)).save(folder / "a.png")
    s = ProjectSession(create_project(folder, tmp_path / "p.rnxproj"))
    s.fill_image_sizes()
    yield s
    s.close()


@pytest.mark.parametrize("accept", ["all", "one"])
def test_annotator_hand_made_image(session, accept):
    a_id, b_id = session.add_category("a").id, session.add_category("b").id
    image_id = session.store.image_ids()[0]
    truth = [Box(10, 10, 50, 50, category_id=a_id), Box(60, 10, 100, 50, category_id=a_id),
             Box(110, 10, 150, 50, category_id=b_id), Box(10, 60, 50, 95, category_id=b_id),
             Box(160, 60, 190, 95, category_id=a_id)]
    preds = [Box(11, 10, 50, 50, category_id=a_id, score=0.9),  # accept (IoU 0.975)
             Box(60, 10, 100, 50, category_id=b_id, score=0.8),  # relabel
             Box(110, 10, 150, 33, category_id=b_id, score=0.7),  # adjust (IoU 23/40 = 0.575)
             Box(120, 60, 150, 90, category_id=a_id, score=0.6),  # false positive: reject
             Box(10, 60, 50, 95, category_id=b_id, score=0.3)]  # right, but hidden by the slider: drawn
    session.set_predictions(image_id, [Box(*p.xyxy, category_id=p.category_id, image_id=image_id,
                                           source=BoxSource.PREDICTED, score=p.score) for p in preds], model_name="m")
    truth = [Box(*t.xyxy, category_id=t.category_id, image_id=image_id) for t in truth]
    acts = annotate(session, image_id, truth, threshold=0.5, accept=accept)
    assert (acts.accepted, acts.relabelled, acts.adjusted, acts.rejected, acts.drawn) == (1, 1, 1, 1, 2)
    assert acts.accept_all_images == (1 if accept == "all" else 0)
    check_labels(session, image_id, truth)  # the labels are the truth, whichever way it accepted
    assert session.store.image(image_id).status.value == "verified"
    # hand-computed: image 1.6 + relabel 3.2 + adjust 5.1 + reject 1.6 + 2 draws 14.0 + accepting 1.6
    assert loop_seconds(acts, Costs(), accept) == pytest.approx(1.6 + 3.2 + 5.1 + 1.6 + 14.0 + 1.6)
    assert drawing_seconds(acts, Costs()) == pytest.approx(1.6 + 5 * 7.0)
    assert session.can_undo  # every edit was an undoable step, as in the GUI


def test_check_labels_notices_a_missing_box(session):
    cid = session.add_category("a").id
    image_id = session.store.image_ids()[0]
    with pytest.raises(RuntimeError, match="0 of 1"):
        check_labels(session, image_id, [Box(10, 10, 50, 50, category_id=cid, image_id=image_id)])


def test_hard_scenes_are_deterministic_small_and_flagged(tmp_path):
    from rnxstudio.data.demo_hard import make_loop_dataset

    a = make_loop_dataset(30, 128, seed=5, hard_share=0.5)
    assert a == make_loop_dataset(30, 128, seed=5, hard_share=0.5)
    hard = {im["id"] for im in a["images"] if im["hard"]}
    assert 5 <= len(hard) <= 25
    sizes = [max(an["bbox"][2:]) for an in a["annotations"] if an["image_id"] in hard]
    assert min(sizes) < 28 and np.mean(sizes) < np.mean([max(an["bbox"][2:]) for an in a["annotations"]
                                                          if an["image_id"] not in hard])
    make_loop_dataset(3, 64, seed=1, out_dir=tmp_path, hard_share=1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotations.json", "scene_00000.png", "scene_00001.png",
                                                        "scene_00002.png"]


def test_two_round_miniature(tmp_path, capsys):
    from rnxstudio.bench import run_bench

    assert run_bench("loop", ["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(r"loop: round 1 costs (\d\.\d\d) of drawing-only \(AP50 (\d\.\d\d)\)", last)
    assert m, last
    data = json.loads((tmp_path / "loop.json").read_text())
    rows = data["results"][0]["rows"]
    assert [r["round"] for r in rows] == [0, 1] and all(r["images"] == 4 for r in rows)
    r0 = rows[0]
    assert r0["actions"]["drawn"] == r0["boxes"] and r0["loop_all_s"] == pytest.approx(r0["draw_s"])  # all drawn
    assert r0["finetune_min"] is not None and rows[1]["ap50"] is not None
    assert float(m.group(1)) == pytest.approx(rows[1]["ratio"], abs=0.005)
    for r in rows:  # the per-image figures are the cost model applied to the counted actions
        a = Actions(**r["actions"])
        assert r["draw_s"] * r["images"] == pytest.approx(drawing_seconds(a, Costs()))
        assert r["loop_one_s"] * r["images"] == pytest.approx(loop_seconds(a, Costs(), "one"))
    assert (tmp_path / "loop.png").stat().st_size > 1000
    assert "extreme clicking" in out and "Papadopoulos et al. CVPR 2016" in out


def test_real_photos_path_with_a_coco_ground_truth(tmp_path, capsys):
    """--coco/--images: a folder with a COCO file (here generated, named like photos), the last
    --held-out images held out, the project's classes from the file."""
    from rnxstudio.bench import run_bench
    from rnxstudio.data.demo import make_shapes_dataset

    coco = make_shapes_dataset(9, 96, seed=4, out_dir=tmp_path / "photos")
    (tmp_path / "photos" / "annotations.json").rename(tmp_path / "gt.json")
    argv = ["--coco", str(tmp_path / "gt.json"), "--images", str(tmp_path / "photos"), "--rounds", "2",
            "--round-images", "3", "--held-out", "3", "--max-steps", "1", "--out", str(tmp_path / "out")]
    assert run_bench("loop", argv) == 0
    rows = json.loads((tmp_path / "out" / "loop.json").read_text())["results"][0]["rows"]
    assert [r["images"] for r in rows] == [3, 3]
    first_six = sorted(coco["images"], key=lambda im: im["file_name"])[:6]
    assert sum(r["boxes"] for r in rows) == sum(1 for a in coco["annotations"]
                                                 if a["image_id"] in {im["id"] for im in first_six})
    held = json.loads((tmp_path / "out" / "heldout" / "annotations.json").read_text())
    assert len(held["images"]) == 3 and capsys.readouterr().out.strip().splitlines()[-1].startswith("loop: round 1")


def test_queue_order_puts_uncertain_images_first(tmp_path):
    from rnxstudio.bench.loop import queue_order

    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a", "b", "c"):
        Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(folder / f"{name}.png")
    with ProjectSession(create_project(folder, tmp_path / "p.rnxproj")) as s:
        cid = s.add_category("x").id
        a, b, c = sorted(s.store.image_ids(), key=lambda i: s.store.image(i).path)
        s.set_predictions(a, [Box(1, 1, 9, 9, category_id=cid, image_id=a, source=BoxSource.PREDICTED, score=0.97)],
                          model_name="m")
        s.set_predictions(b, [Box(1, 1, 9, 9, category_id=cid, image_id=b, source=BoxSource.PREDICTED, score=0.52)],
                          model_name="m")
        assert queue_order(s.store, [a, b, c], 0.5) == [b, a, c]  # near the slider first; no predictions last


def test_val_split_zero_trains_on_every_labelled_image(tmp_path, capsys):
    from rnxstudio.bench import run_bench

    assert run_bench("loop", ["--quick", "--val-split", "0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "round 0: 4 train / 0 val images" in out, out
    assert "best checkpoint model_last" in out
