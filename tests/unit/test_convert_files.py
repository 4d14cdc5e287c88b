"""Generated files with the real tensor names (tests/convert_files.py): mmdetection's mapping,
the reverse name maps, and - slow - full X101-32x8d (detectron2) and X101-64x4d (mmdetection)
files through `rnxstudio weights import`, `predict` and `arch`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from convert_files import (
    X101_32X8D,
    X101_64X4D,
    detectron2_shapes,
    mmdet_shapes,
    random_arrays,
    write_detectron2,
    write_mmdet,
)
from PIL import Image

from rnxstudio.cli import main
from rnxstudio.ml.checkpoint import load_checkpoint
from rnxstudio.ml.convert import catalog, keymap
from rnxstudio.ml.convert_weights import ConversionError, import_weights

SMALL = dict(blocks=(1, 2, 1, 1), groups=4, width_per_group=4)


def test_mmdet_file_converts_with_its_own_class_names_and_rgb_input(tmp_path):
    arrays = random_arrays(mmdet_shapes(**SMALL, num_classes=3, fpn=32, fc=64), seed=1)
    src = write_mmdet(tmp_path / "small_mmdet.pth", arrays, classes=("cat", "dog", "fox"))
    built = load_checkpoint(import_weights(src, tmp_path / "m.safetensors"))
    sd = built.model.state_dict()
    assert built.class_names == ["cat", "dog", "fox"] and built.category_ids == [1, 2, 3]
    # RGB network: conv1 untouched; torchvision names for the neck, RPN and box head
    torch.testing.assert_close(sd["backbone.body.conv1.weight"], torch.from_numpy(arrays["backbone.conv1.weight"]))
    torch.testing.assert_close(sd["backbone.fpn.inner_blocks.2.0.weight"],
                               torch.from_numpy(arrays["neck.lateral_convs.2.conv.weight"]))
    torch.testing.assert_close(sd["rpn.head.bbox_pred.weight"], torch.from_numpy(arrays["rpn_head.rpn_reg.weight"]))
    cls = torch.from_numpy(arrays["roi_head.bbox_head.fc_cls.weight"])
    torch.testing.assert_close(sd["roi_heads.box_predictor.cls_score.weight"], torch.cat((cls[3:], cls[:3])))
    ext = built.build_kwargs["external"]
    assert ext["resize_style"] == "cv2" and ext["postprocess"] == "mmdet" and ext["groups"] == 4
    assert built.info["extra"]["imported"]["input_channels_swapped"] is False


def test_mmdet_bgr_option_swaps_the_first_conv(tmp_path):
    arrays = random_arrays(mmdet_shapes(**SMALL, num_classes=2, fpn=32, fc=64), seed=2)
    src = write_mmdet(tmp_path / "bgr.pth", arrays)
    built = load_checkpoint(import_weights(src, tmp_path / "m.safetensors", bgr=True, class_names=["a", "b"]))
    conv1 = torch.from_numpy(arrays["backbone.conv1.weight"])
    torch.testing.assert_close(built.model.state_dict()["backbone.body.conv1.weight"], conv1[:, [2, 1, 0]])


def test_reverse_names_invert_the_key_maps():
    for framework, shapes in (("detectron2", detectron2_shapes(**SMALL)), ("mmdet", mmdet_shapes(**SMALL))):
        tensors = {k: torch.zeros(1) for k in shapes}
        renamed, origin = keymap.rename(tensors, framework)
        for target, source in origin.items():
            if "box_predictor" in target and framework == "detectron2":
                continue  # same names in both layouts
            assert keymap.source_name(target, framework) == source


def test_a_renamed_published_file_with_a_wrong_digest_is_refused(tmp_path):
    entry = catalog.get("mmdet_faster_rcnn_x101_64x4d_fpn_1x")
    arrays = random_arrays(mmdet_shapes(**SMALL, num_classes=2, fpn=32, fc=64))
    fake = write_mmdet(tmp_path / entry.filename, arrays)
    with pytest.raises(ConversionError, match="does not start with the published 833ee192"):
        import_weights(fake, tmp_path / "m.safetensors")


@pytest.mark.slow
@pytest.mark.parametrize("framework,shape", [("detectron2", X101_32X8D), ("mmdet", X101_64X4D)],
                         ids=["detectron2-X101-32x8d", "mmdet-X101-64x4d"])
def test_full_size_file_converts_loads_predicts_and_shows_its_architecture(tmp_path, capsys, framework, shape):
    if framework == "detectron2":
        src = write_detectron2(tmp_path / "model_full.pkl", random_arrays(detectron2_shapes(**shape)))
    else:
        src = write_mmdet(tmp_path / "model_full.pth", random_arrays(mmdet_shapes(**shape)))
    out = tmp_path / "coco.safetensors"
    assert main(["weights", "import", str(src), "--out", str(out)]) == 0
    src.unlink()  # hundreds of MB: free the disk before the next steps
    meta = json.loads(out.with_suffix(".json").read_text())
    names = [c["name"] for c in meta["classes"]]
    assert names == catalog.coco_class_names() and [c["category_id"] for c in meta["classes"]] == list(catalog.COCO_IDS)
    expected = "resnext101_32x8d_fpn" if framework == "detectron2" else "resnext101_64x4d_fpn"
    assert meta["model"] == expected and meta["extra"]["imported"]["framework"] == framework

    image = tmp_path / "street.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(image)
    capsys.readouterr()
    assert main(["predict", str(image), "--model", str(out), "--out", str(tmp_path / "p.json"), "--device", "cpu",
                 "--min-size", "320", "--max-size", "512", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "80 classes: person, bicycle, car" in err and "toothbrush" in err
    assert json.loads((tmp_path / "p.json").read_text()) is not None

    assert main(["arch", str(out)]) == 0
    table = capsys.readouterr().out
    width = "32x8d" if framework == "detectron2" else "64x4d"
    assert f"ResNeXt-101 {width} + FPN ({framework}, converted)" in table and "res5" in table
