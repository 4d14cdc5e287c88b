"""The OpenVINO backbone (optional extra): same features as torch, converted once per weights and
cached, dynamic input size, and no telemetry (checked offline, against OpenVINO's own default)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytest.importorskip("openvino")

from rnxstudio.ml import fast, openvino_backend, zoo  # noqa: E402
from rnxstudio.ml.predict import Predictor  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return zoo.build_model("resnext_tiny_fpn", num_classes=3, min_size=96, max_size=128, score_thresh=0.0,
                           pretrained_backbone=False, allow_download=False)


def test_features_match_torch_at_two_sizes_and_the_ir_is_cached(tiny):
    backbone = copy.deepcopy(tiny.model.backbone).eval()
    first = openvino_backend.OpenVINOBackbone(backbone, precision="fp32")
    assert not first.from_cache and (first.cache_folder / "backbone.xml").is_file()
    assert first.cache_folder.parent == openvino_backend.cache_dir()  # under RNXSTUDIO_HOME
    meta = json.loads((first.cache_folder / "meta.json").read_text())
    assert meta["key"].startswith(first.cache_folder.name)
    for h, w in ((96, 128), (160, 96)):  # one IR, dynamic H and W
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h))
        with torch.no_grad():
            ref = backbone(x)
        got = first(x)
        assert list(got) == list(ref)
        for k in ref:
            torch.testing.assert_close(got[k], ref[k], atol=1e-4, rtol=1e-4)
    again = openvino_backend.OpenVINOBackbone(backbone, precision="fp32")
    assert again.from_cache and again.cache_folder == first.cache_folder
    changed = copy.deepcopy(backbone)
    with torch.no_grad():
        next(changed.parameters()).add_(0.01)  # new weights (a fine-tune): a new cache entry
    assert openvino_backend.weights_key(changed, {}) != openvino_backend.weights_key(backbone, {})


def test_a_damaged_cache_entry_is_converted_again(tiny):
    backbone = copy.deepcopy(tiny.model.backbone).eval()
    first = openvino_backend.OpenVINOBackbone(backbone)
    (first.cache_folder / "backbone.xml").write_text("<not a model")
    second = openvino_backend.OpenVINOBackbone(backbone)
    assert not second.from_cache and (second.cache_folder / "backbone.xml").stat().st_size > 100


def test_openvino_predictor_gives_eager_detections(tiny):
    import numpy as np

    rgb = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    eager = Predictor(tiny, device="cpu", optimize="none").predict([rgb])[0]
    ov = Predictor(tiny, device="cpu", optimize="openvino+sparse_roi")
    assert ov.plan.backbone == "openvino" and ov.path_name == "openvino fp32"
    got = ov.predict([rgb])[0]
    assert len(got) == len(eager) > 0
    np.testing.assert_allclose(got.scores[:10], eager.scores[:10], atol=1e-4)
    np.testing.assert_allclose(got.boxes[:10], eager.boxes[:10], atol=1e-2)
    assert not isinstance(tiny.model.roi_heads.box_roi_pool, fast.SparseRoIAlign)  # caller's model untouched
    assert not isinstance(tiny.model.backbone, openvino_backend.OpenVINOBackbone)
    assert fast.plan_for("cpu", "openvino+bf16").precision == "bf16"


_NO_NETWORK = textwrap.dedent("""
    import os, socket
    LOG = os.environ["PROBE_LOG"]
    def record(what):
        with open(LOG, "a") as fh:  # a file: telemetry sends from a forked child process
            fh.write(what + "\\n")
    def connect(self, addr, *a, **k):
        record(f"connect {addr}")
        raise OSError("offline (test)")
    def getaddrinfo(host, *a, **k):
        record(f"dns {host}")
        raise socket.gaierror("offline (test)")
    socket.socket.connect = connect
    socket.getaddrinfo = getaddrinfo
    record(f"python {os.getpid()}")
""")
_PROBE = textwrap.dedent("""
    import sys
    import torch
    if sys.argv[1] == "app":  # as the app does it; the conversion runs in a child process (watched too)
        from rnxstudio.ml.openvino_backend import OpenVINOBackbone
        backbone = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
        backbone.out_channels = 4
        OpenVINOBackbone(backbone)
        import openvino as ov  # and a later conversion in this process
        ov.convert_model(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)).eval(), example_input=torch.rand(1, 3, 16, 16))
    else:  # OpenVINO as it comes
        import openvino as ov
        ov.convert_model(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)).eval(), example_input=torch.rand(1, 3, 16, 16))
""")


def _probe(mode: str, tmp_path: Path) -> tuple[str, list[str]]:
    home = tmp_path / f"home-{mode}"
    home.mkdir()
    log = tmp_path / f"net-{mode}.log"
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_NO_NETWORK)  # every Python process started below
    script = tmp_path / "probe.py"
    script.write_text(_PROBE)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env.update(HOME=str(home), PROBE_LOG=str(log), RNXSTUDIO_HOME=str(home / "rnx"),
               PYTHONPATH=os.pathsep.join([str(site), str(REPO), env.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(script), mode], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*") if "rnx" not in p.parts)
    lines = log.read_text().splitlines() if log.exists() else []
    processes = [x for x in lines if x.startswith("python ")]
    assert processes, "the network watch did not load"
    return "\n".join(x for x in lines if not x.startswith("python ")), written, len(processes)


@pytest.mark.slow
def test_conversion_sends_nothing_and_writes_no_client_id(tmp_path):
    net, written, processes = _probe("app", tmp_path)
    assert processes >= 2  # the app and its converter child were both watched
    assert net == "" and written == [], (net, written)
    # the control: OpenVINO left alone, with no consent file, tries to report (so the probe works)
    raw_net, raw_written, _ = _probe("raw", tmp_path)
    assert "google-analytics" in raw_net or any("openvino" in w for w in raw_written), \
        f"OpenVINO alone no longer tries to report here, so this probe proves nothing: {raw_net!r} {raw_written}"
