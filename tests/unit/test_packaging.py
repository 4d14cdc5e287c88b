"""The build-time helpers of packaging/ (the bundle itself is checked by packaging/smoke.sh)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGING = REPO_ROOT / "packaging"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"packaging_{name}", PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bundle_trim = _load("bundle_trim")
smoke_check = _load("smoke_check")


def _launcher(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PACKAGING / "launcher.py"), *args], check=False,
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}, cwd=REPO_ROOT)


def test_launcher_accepts_python_dash_m_form():
    # bench all re-launches `sys.executable -m rnxstudio.cli bench NAME`; frozen, that is us
    for module in ("rnxstudio.cli", "rnxstudio"):
        proc = _launcher("-m", module, "--version")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("rnxstudio "), proc.stdout


def test_launcher_runs_the_named_script_with_its_arguments(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text("import os, sys\n"
                      "print(sys.argv[1:], os.environ.get('RNXSTUDIO_FROZEN_SCRIPT'))\n"
                      "sys.exit(3)\n")
    proc = _launcher("a", "--b", env={"RNXSTUDIO_FROZEN_SCRIPT": str(script)})
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.strip() == "['a', '--b'] None"  # arguments passed, variable not inherited


def test_strip_unused_drops_headers_and_tests_but_keeps_what_torch_runs():
    toc = [(dest, "/src/" + dest, "DATA") for dest in (
        "torch/include/ATen/ATen.h", "torch/share/cmake/Torch/TorchConfig.cmake", "qtawesome/tests/x.py",
        "torch/bin/protoc", "PySide6/Qt/translations/qt_de.qm", "cv2/data/haarcascade_eye.xml",
        "torch/bin/torch_shm_manager", "torch/lib/libtorch_cpu.so", "resources/icons/rnxstudio.svg",
        "qtawesome/fonts/fontawesome5-solid-webfont-5.15.4.ttf")]
    kept = [e[0] for e in bundle_trim.strip_unused(toc)]
    # torch refuses to import without torch_shm_manager (the first build left it out)
    assert kept == ["torch/bin/torch_shm_manager", "torch/lib/libtorch_cpu.so", "resources/icons/rnxstudio.svg",
                    "qtawesome/fonts/fontawesome5-solid-webfont-5.15.4.ttf"]


def _shared_library(tmp_path: Path, name: str, needs: list[str] = ()) -> str:
    source = tmp_path / f"{name}.c"
    source.write_text(f"int {name.replace('-', '_')}_symbol(void) {{ return 1; }}\n")
    out = tmp_path / f"lib{name}.so"
    links = [f"-l{n}" for n in needs]
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(out), str(source), f"-L{tmp_path}",
                    "-Wl,--no-as-needed", *links], check=True, capture_output=True)
    return str(out)


@pytest.mark.skipif(not (sys.platform.startswith("linux") and shutil.which("gcc") and shutil.which("readelf")),
                    reason="needs Linux, gcc and readelf (binutils), as the cpu flavour's build does")
def test_cut_gpu_libraries_keeps_what_the_linker_needs_and_drops_the_rest(tmp_path):
    linked = _shared_library(tmp_path, "gpulinked")           # like cuBLAS: NEEDED by libtorch_cuda
    cuda = _shared_library(tmp_path, "torch_cuda", ["gpulinked"])  # NEEDED by the CPU side below
    lazy = _shared_library(tmp_path, "gpulazy")               # like cuDNN's engines: dlopen'd on a GPU
    linalg = _shared_library(tmp_path, "torch_cuda_linalg", ["gpulazy"])  # dlopen'd, needs gpulazy
    app = _shared_library(tmp_path, "app", ["torch_cuda"])
    binaries = [
        ("torch/lib/libapp.so", app, "BINARY"),
        ("torch/lib/libtorch_cuda.so", cuda, "BINARY"),
        ("torch/lib/libtorch_cuda_linalg.so", linalg, "BINARY"),
        ("nvidia/cu/lib/libgpulinked.so", linked, "BINARY"),
        ("nvidia/cudnn/lib/libgpulazy.so", lazy, "BINARY"),
        ("nvidia/cu/bindings.so", lazy, "EXTENSION"),  # a Python module: never cut
    ]
    kept, dropped = bundle_trim.cut_gpu_libraries(binaries)
    assert sorted(e[0] for e in dropped) == ["nvidia/cudnn/lib/libgpulazy.so", "torch/lib/libtorch_cuda_linalg.so"]
    assert [e[0] for e in kept] == ["torch/lib/libapp.so", "torch/lib/libtorch_cuda.so",
                                    "nvidia/cu/lib/libgpulinked.so", "nvidia/cu/bindings.so"]
    assert bundle_trim.megabytes(dropped) > 0


def _coco(tmp_path: Path, detections: list[dict]) -> tuple[str, str]:
    gt = {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 50}],
          "categories": [{"id": 2, "name": "b"}, {"id": 1, "name": "a"}], "annotations": []}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(detections))
    return str(tmp_path / "gt.json"), str(tmp_path / "pred.json")


def test_smoke_check_accepts_valid_results_and_names_each_kind_of_bad_one(tmp_path):
    good = {"image_id": 1, "category_id": 2, "bbox": [10.0, 5.0, 20.0, 30.0], "score": 0.7}
    gt, pred = _coco(tmp_path, [good])
    assert smoke_check.check_results(gt, pred).startswith("1 detections on 1/1 images")
    assert smoke_check.classes(gt) == "a,b"
    bad = [({"image_id": 9}, "image_id 9"), ({"category_id": 3}, "category_id 3"),
           ({"bbox": [90.0, 5.0, 20.0, 30.0]}, "outside"), ({"bbox": [1.0, 1.0, 0.0, 3.0]}, "bad bbox"),
           ({"score": 1.5}, "score")]
    for change, message in bad:
        gt, pred = _coco(tmp_path, [good, {**good, **change}])
        with pytest.raises(ValueError, match=message):
            smoke_check.check_results(gt, pred)
    gt, pred = _coco(tmp_path, [])
    with pytest.raises(ValueError, match="non-empty"):
        smoke_check.check_results(gt, pred)
    # without ground truth (a video) only boxes and scores are checked
    _, pred = _coco(tmp_path, [{**good, "image_id": 31, "category_id": 7}])
    assert smoke_check.check_results("-", pred).startswith("1 detections on 1/? images")


def test_smoke_bundle_lists_every_source_module_and_names_those_that_do_not_import(tmp_path, monkeypatch):
    smoke_bundle = _load("smoke_bundle")
    names = smoke_bundle.source_modules(REPO_ROOT / "rnxstudio")
    # lazily imported ones too (benchmarks, the optional backend, GUI features), packages by name
    for name in ("rnxstudio", "rnxstudio.bench.suite", "rnxstudio.ui.bench", "rnxstudio.ml.convert.arch",
                 "rnxstudio.ml.openvino_backend", "rnxstudio.ui.inspector.panel", "rnxstudio.ui.training.dialog"):
        assert name in names
    assert "rnxstudio.__main__" not in names  # importing it would start the app
    assert len(names) == sum(1 for _ in (REPO_ROOT / "rnxstudio").rglob("*.py")) - 1

    pkg = tmp_path / "pkgx"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "fine.py").write_text("X = 1\n")
    (pkg / "sub" / "broken.py").write_text("import a_module_the_bundle_lacks\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = smoke_bundle.source_modules(pkg)
    assert found == ["pkgx", "pkgx.sub", "pkgx.sub.broken", "pkgx.sub.fine"]
    with pytest.raises(ImportError, match=r"1 of 4 .*pkgx\.sub\.broken \(ModuleNotFoundError"):
        smoke_bundle.import_every_module(found)
    assert smoke_bundle.import_every_module([n for n in found if "broken" not in n]).startswith("pkgx: all 3")


def test_optional_openvino_is_left_out_of_the_bundle():
    # even when the build venv has the [openvino] extra: the frozen launcher cannot run its converter
    assert {"openvino", "openvino_telemetry"} <= set(bundle_trim.EXCLUDED_MODULES)
