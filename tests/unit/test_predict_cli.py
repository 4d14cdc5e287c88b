"""`rnxstudio predict`: COCO results that pycocotools accepts; clear errors; random-weights warning."""

from __future__ import annotations

import json

import pytest
import torch

from rnxstudio.cli import main
from rnxstudio.data.demo import make_shapes_dataset
from rnxstudio.ml import zoo
from rnxstudio.ml.checkpoint import save_checkpoint

CLASSES = ["circle", "square", "triangle", "star", "ring"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    out = tmp_path_factory.mktemp("shapes")
    make_shapes_dataset(3, 96, 0, out)
    return out


def test_predict_folder_with_checkpoint_loadres(shapes, tmp_path, capsys):
    from pycocotools.coco import COCO

    torch.manual_seed(0)
    built = zoo.build_model("resnext_tiny_fpn", num_classes=5, class_names=CLASSES,
                            min_size=64, max_size=96, score_thresh=0.0, allow_download=False)
    ckpt = save_checkpoint(tmp_path / "tiny.safetensors", built, category_ids=[1, 2, 3, 4, 5])
    out = tmp_path / "preds.json"
    rc = main(["predict", str(shapes), "--model", str(ckpt), "--out", str(out), "--batch", "2",
               "--coco", str(shapes / "annotations.json"), "--device", "cpu", "--no-progress"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "meaningless" not in err and "wrote" in err
    recs = json.loads(out.read_text())
    assert recs and {r["image_id"] for r in recs} <= {1, 2, 3}
    assert all(r["category_id"] in range(1, 6) and len(r["bbox"]) == 4 for r in recs)
    gt = COCO(str(shapes / "annotations.json"))
    dt = gt.loadRes(str(out))
    assert len(dt.getAnnIds()) == len(recs)
    run = json.loads((tmp_path / "preds.run.json").read_text())  # how the predictions were computed
    assert run["inference_path"] in err and run["precision_asked"] == "auto" and run["images"] == 3
    assert run["weights_sha256"] and run["classes"] == CLASSES


def test_precision_override_is_recorded(shapes, tmp_path, capsys):
    out = tmp_path / "p32.json"
    rc = main(["predict", str(shapes / "shape_00000.png"), "--model", "resnext_tiny_fpn", "--out", str(out),
               "--min-size", "64", "--max-size", "96", "--device", "cpu", "--no-progress",
               "--precision", "fp32", "--backend", "torch"])
    assert rc == 0
    run = json.loads((tmp_path / "p32.run.json").read_text())
    assert run["inference_path"] == "torch fp32" and run["reason"] == "fp32 as asked"
    assert "torch fp32" in capsys.readouterr().err


def test_zoo_model_random_weights_warns(shapes, tmp_path, capsys):
    out = tmp_path / "p.json"
    rc = main(["predict", str(shapes / "shape_00000.png"), "--model", "resnext_tiny_fpn", "--out", str(out),
               "--classes", "a,b", "--min-size", "64", "--max-size", "96", "--score", "0.5",
               "--device", "cpu", "--no-progress"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "RANDOM weights" in err and "meaningless" in err
    assert all(r["score"] >= 0.5 for r in json.loads(out.read_text()))


@pytest.mark.parametrize("argv,message", [
    (["predict", "/no/such/folder", "--out", "x.json"], "not found"),
    (["predict", ".", "--model", "nope.safetensors", "--out", "x.json"], "neither a zoo model"),
])
def test_user_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_predict_video_every_other_frame(tmp_path, capsys):
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 72))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG .avi")
    for i in range(5):
        frame = np.zeros((72, 96, 3), np.uint8)
        cv2.circle(frame, (20 + 10 * i, 36), 12, (255, 255, 255), -1)
        writer.write(frame)
    writer.release()
    out = tmp_path / "v.json"
    rc = main(["predict", str(clip), "--model", "resnext_tiny_fpn", "--out", str(out), "--every", "2",
               "--min-size", "64", "--max-size", "96", "--device", "cpu", "--no-progress"])
    assert rc == 0
    assert "3 frames" in capsys.readouterr().err
    recs = json.loads(out.read_text())
    assert {r["image_id"] for r in recs} <= {1, 3, 5}  # frame_index + 1 for frames 0, 2, 4
    assert all(0 <= r["bbox"][0] <= 96 and 0 <= r["bbox"][1] <= 72 for r in recs)
