"""`rnxstudio train` / `rnxstudio eval` end to end on tiny data, and the same trainer under
torchrun with 2 CPU processes (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rnxstudio.cli import main
from rnxstudio.data.demo import make_shapes_dataset


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    out = tmp_path_factory.mktemp("shapes")
    make_shapes_dataset(6, 64, seed=7, out_dir=out, max_objects=2, empty_every=5)
    return out


TINY = ["--model", "resnext_tiny_fpn", "--size", "64", "--max-size", "96", "--no-pretrained", "--batch", "2"]


def test_train_then_eval_cli(shapes, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--coco", str(shapes / "annotations.json"), "--out", str(out), "--max-steps", "2",
               "--log-every", "1", *TINY])
    text = capsys.readouterr().out
    assert rc == 0
    assert "step 2/2" in text and "loss" in text and "img/s" in text
    ckpt = out / "model_best.safetensors"
    assert ckpt.is_file() and f"checkpoint: {ckpt}" in text

    metrics = tmp_path / "metrics.json"
    rc = main(["eval", str(shapes / "annotations.json"), "--model", str(ckpt), "--split", "val",
               "--out", str(metrics)])
    text = capsys.readouterr().out
    assert rc == 0 and "AP50" in text and "circle" in text
    d = json.loads(metrics.read_text())
    assert d["num_images"] in (1, 2) and set(d["metrics"]) >= {"AP", "AP50", "AR100"}  # val: 1-2 of 6 (ADR 0025)

    # the same on a project: the folder's project gets the labels, eval reads them from the store
    from rnxstudio.data.coco import read_coco
    from rnxstudio.data.project import open_project

    store = open_project(shapes)
    try:
        store.import_labelset(read_coco(shapes / "annotations.json", shapes))
    finally:
        store.close()
    rc = main(["eval", str(shapes), "--model", str(ckpt), "--split", "val"])
    text = capsys.readouterr().out
    assert rc == 0 and f"(val split, {d['num_images']} images)" in text and "ring" in text  # the COCO file's split


def test_train_cli_errors_are_one_line(tmp_path, capsys):
    rc = main(["train", "--coco", str(tmp_path / "none.json"), "--out", str(tmp_path / "o"), *TINY])
    err = capsys.readouterr().err
    assert rc == 2 and "none.json" in err and err.count("\n") == 1
    rc = main(["eval", str(tmp_path / "none.json"), "--model", "nope.safetensors"])
    assert rc == 2


@pytest.mark.slow
def test_torchrun_two_cpu_processes_write_one_checkpoint(shapes, tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "rnxstudio", "train", "--coco", str(shapes / "annotations.json"), "--out", str(out),
           "--max-steps", "2", "--val-split", "0.34", "--device", "cpu", "--log-every", "1",
           *[a if a != "2" else "1" for a in TINY]]  # batch 1 per process
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=150, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "2 processes" in proc.stdout
    # rank 0 only logs: each step line appears once
    assert proc.stdout.count("step 2/2") == 1
    weights = sorted(p.name for p in out.glob("*.safetensors") if p.name != "model_best.safetensors")
    assert len(weights) == 1  # one run checkpoint (+ the best copy), written by rank 0 only
    from rnxstudio.ml.checkpoint import load_checkpoint
    from rnxstudio.ml.train_state import load_train_state

    built = load_checkpoint(out / weights[0])
    assert built.class_names[0] == "circle"
    assert load_train_state(out / weights[0])["step"] == 2
