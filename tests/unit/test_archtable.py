"""Architecture tables: structure, sizes, params and FLOPs counted exactly; paper figures."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rnxstudio.cli import main
from rnxstudio.ml.introspect import archformat as af
from rnxstudio.ml.introspect.archtable import arch_table, trunk_table
from rnxstudio.ml.zoo import build_model

RES = ["res2", "res3", "res4", "res5"]


def meta_model(name: str, **kw):
    with torch.device("meta"):
        return build_model(name, num_classes=kw.pop("num_classes", 90), pretrained_backbone=False, **kw)


@pytest.fixture(scope="module")
def x50():
    return meta_model("resnext50_32x4d_fpn")


@pytest.fixture(scope="module")
def r50():
    return meta_model("resnet50_fpn")


def test_resnext50_trunk_structure_and_paper_figures():
    t = trunk_table("resnext50_32x4d", 224)
    for i, name in enumerate(RES):
        row = t.row(name)
        assert row.groups == 32
        assert row.width_per_group == 4 * 2**i  # "32x4d": d = 4 at res2, doubling per stage
        assert row.bottleneck_width == 128 * 2**i
        assert row.out_channels == 256 * 2**i
        assert row.blocks == [3, 4, 6, 3][i]
        assert row.out_hw == f"{56 // 2**i}x{56 // 2**i}"
    assert t.total.gmacs == pytest.approx(4.2, rel=0.02)
    assert t.total.params / 1e6 == pytest.approx(25.0, rel=0.02)


def test_resnet50_trunk_paper_figures():
    t = trunk_table("resnet50", 224)
    assert all(t.row(n).groups == 1 for n in RES)
    assert t.total.gmacs == pytest.approx(4.1, rel=0.02)
    assert t.total.params / 1e6 == pytest.approx(25.5, rel=0.02)
    assert isinstance(t.total.flops, int)


def test_trunk_flops_equal_flopcounter_total():
    import torchvision

    with torch.device("meta"):  # shapes only: same counts, no 25 M-parameter random init
        net = torchvision.models.resnext50_32x4d(weights=None).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(torch.zeros(1, 3, 64, 64, device="meta"))
    t = trunk_table("resnext50_32x4d", 64)
    assert t.total.flops == counter.get_total_flops()
    assert sum(r.flops for r in t.rows if r.name != "total") == t.total.flops
    assert t.total.params == sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("hw", [(800, 1067), (480, 640), (333, 500)])
def test_detector_sizes_follow_transform_and_strides(x50, hw):
    t = arch_table(x50, hw)
    bh, bw = t.batch_hw
    assert bh % 32 == 0 and bw % 32 == 0
    assert min(t.resized_hw) == 800 or max(t.resized_hw) == 1333
    assert t.resized_hw[0] <= bh < t.resized_hw[0] + 32
    for name, s in zip(["stem", *RES], [4, 4, 8, 16, 32], strict=True):
        row = t.row(name)
        assert row.stride == str(s)
        assert row.out_hw == f"{math.ceil(bh / s)}x{math.ceil(bw / s)}"
    fpn = t.row("fpn")
    assert fpn.stride == "4/8/16/32/64" and fpn.out_channels == 256
    assert fpn.out_hw.split()[0] == t.row("res2").out_hw


def test_params_equal_model_parameters(x50, r50):
    for built in (x50, r50):
        t = arch_table(built)
        assert t.total.params == sum(p.numel() for p in built.model.parameters())
        assert sum(r.params for r in t.rows if r.name != "total") == t.total.params


def test_detector_flops_equal_flopcounter_totals():
    """Count the same pieces independently on a real (CPU) tiny model and compare exactly."""
    torch.manual_seed(0)
    built = build_model("resnext_tiny_fpn", num_classes=5, pretrained_backbone=False, min_size=96, max_size=128)
    model = built.model.eval()
    t = arch_table(built, (96, 128))
    bh, bw = t.batch_hw
    with torch.no_grad():
        c_bb = FlopCounterMode(display=False)
        with c_bb:
            feats = model.backbone(torch.zeros(1, 3, bh, bw))
        c_rpn = FlopCounterMode(display=False)
        with c_rpn:
            model.rpn.head(list(feats.values()))
        c_head = FlopCounterMode(display=False)
        with c_head:
            rep = model.roi_heads.box_head(torch.zeros(1000, 64, 7, 7))
            model.roi_heads.box_predictor(rep)
    backbone_rows = sum(t.row(n).flops for n in ["stem", *RES, "fpn"])
    assert backbone_rows == c_bb.get_total_flops()
    assert t.row("rpn").flops == c_rpn.get_total_flops()
    assert t.row("roi_box_head").flops + t.row("predictor").flops == c_head.get_total_flops()
    assert t.total.flops == c_bb.get_total_flops() + c_rpn.get_total_flops() + c_head.get_total_flops()
    # the real model was only read: still on CPU, no hooks left
    assert next(model.parameters()).device.type == "cpu"
    assert all(not m._forward_hooks for m in model.modules())


def test_c4_rows_and_big_head():
    t = arch_table(meta_model("resnext50_32x4d_c4"), (800, 1067))
    names = [r.name for r in t.rows]
    assert "fpn" not in names and names[:5] == ["stem", *RES]
    assert t.row("roi_box_head").params > 100e6  # fc6 = 2048*7*7 -> 1024
    assert t.row("rpn").out_channels == 15


def test_compare_flags_differences(x50, r50):
    grid = af.compare(arch_table(r50), arch_table(x50))
    h = grid.headers
    rows = {r[0]: i for i, r in enumerate(grid.rows)}
    assert grid.rows[-1][0] == "total"
    g = h.index("groups (cardinality)")
    assert grid.rows[rows["res3"]][g] == "1 -> 32" and (rows["res3"], g) in grid.highlight
    assert grid.rows[rows["fpn"]][h.index("out ch")] == "256"
    assert (rows["fpn"], h.index("out ch")) not in grid.highlight
    assert (rows["total"], h.index("params A (M)")) in grid.highlight
    text = af.to_text(grid)
    assert "1 -> 32*" in text
    md = af.to_markdown(grid)
    assert "**1 -> 32**" in md
    data = json.loads(af.to_json(grid))
    res3 = next(r for r in data["rows"] if r["stage"] == "res3")
    assert "groups (cardinality)" in res3["differs"]
    parsed = list(csv.reader(io.StringIO(af.to_csv(grid))))
    assert parsed[0] == h and len(parsed) == len(grid.rows) + 1


def test_formatters_single_table(x50):
    t = arch_table(x50, (480, 640))
    grid = af.table_grid(t)
    assert "GMACs (paper)" in grid.headers and "GFLOPs (2/MAC)" in grid.headers
    txt = af.to_text(grid)
    assert "FlopCounterMode" in txt and "res5" in txt
    raw = json.loads(af.table_json(t))
    assert raw["rows"][-1]["params"] == t.total.params and raw["batch_hw"] == list(t.batch_hw)
    with pytest.raises(ValueError, match="unknown format"):
        af.render(grid, "xml")
    with pytest.raises(ValueError, match="positive"):
        arch_table(x50, (0, 10))


def test_cli_arch(capsys, tmp_path):
    assert main(["arch", "resnext_tiny_fpn", "--format", "csv", "--input", "320x480"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][0] == "stage" and rows[-1][0] == "total"
    assert main(["arch", "resnext50_32x4d_fpn", "--compare", "resnet50_fpn"]) == 0
    out = capsys.readouterr().out
    assert "resnext50_32x4d_fpn vs resnet50_fpn" in out and "32 -> 1*" in out
    assert main(["arch", "resnext50_32x4d", "--trunk", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rows"][-1]["gmacs"] == pytest.approx(4.23, rel=0.01)
    dest = tmp_path / "x.md"
    assert main(["arch", "resnext_tiny_fpn", "--format", "markdown", "-o", str(dest)]) == 0
    assert dest.read_text().startswith("**resnext_tiny_fpn")
    assert main(["arch", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["arch", "resnext_tiny_fpn", "--input", "axb"]) == 2
    assert main(["arch", "resnext_tiny_fpn", "--trunk"]) == 2
