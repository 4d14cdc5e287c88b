"""What the bundle carries, checked from inside it (part of packaging/smoke.sh):

    RNXSTUDIO_FROZEN_SCRIPT=packaging/smoke_bundle.py QT_QPA_PLATFORM=offscreen \
        dist/rnxstudio/rnxstudio FLAVOUR DEMO_VIDEO

Each line is one library the app needs on some path, exercised (not only imported): torchvision's
compiled operators, pycocotools' extension, OpenCV's image and video decoders, safetensors, the
Qt plugins the window uses (platforms, SVG icons) and, in the cpu flavour, the hidden GPU. Then
every module of the source tree next to this script is imported from the bundle (so a module
that only some menu, subcommand or benchmark imports lazily cannot be missing), and the optional
OpenVINO backend is checked to be left out with the app falling back to torch.
Exits 1 naming the first thing that is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "rnxstudio"
# Left out of the bundle on purpose (packaging/bundle_trim.py says why); the app must do without.
OPTIONAL = ("openvino",)


def check(flavour: str, video: str) -> list[str]:
    lines = []
    import torch
    import torchvision

    lines.append(f"torch {torch.__version__} (CUDA build: {torch.version.cuda}), torchvision {torchvision.__version__}")
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
    assert keep.tolist() == [0, 2], keep
    pooled = torchvision.ops.roi_align(torch.ones(1, 1, 8, 8), [torch.tensor([[0.0, 0.0, 4.0, 4.0]])], 2)
    assert torch.allclose(pooled, torch.ones(1, 1, 2, 2)), pooled
    lines.append("torchvision ops: nms, roi_align run")

    import numpy as np
    from pycocotools import mask as cocomask

    rle = cocomask.encode(np.asfortranarray(np.ones((4, 4), dtype=np.uint8)))
    assert int(cocomask.area(rle)) == 16
    lines.append("pycocotools: C extension runs")

    import cv2

    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    assert ok and cv2.imdecode(png, cv2.IMREAD_COLOR).shape == (8, 8, 3)
    cap = cv2.VideoCapture(video)
    ok, frame = cap.read()
    cap.release()
    assert ok and frame is not None, f"OpenCV cannot read a frame of {video}"
    lines.append(f"opencv {cv2.__version__}: png codec, video frame {frame.shape[1]}x{frame.shape[0]}")

    from safetensors.torch import load_file, save_file

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.safetensors")
        save_file({"w": torch.arange(3.0)}, path)
        assert load_file(path)["w"].tolist() == [0.0, 1.0, 2.0]
    lines.append("safetensors: save/load")

    from PySide6.QtCore import QLibraryInfo, qVersion
    from PySide6.QtGui import QGuiApplication, QIcon, QImageReader

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    plugins = QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)
    platforms = sorted(f.split(".")[0].removeprefix("libq") for f in os.listdir(os.path.join(plugins, "platforms")))
    assert "xcb" in platforms and "wayland" in platforms, platforms
    formats = {bytes(f).decode() for f in QImageReader.supportedImageFormats()}
    assert {"svg", "png", "jpeg"} <= formats, formats
    from rnxstudio.core.paths import resources_dir

    icon = QIcon(str(resources_dir() / "icons" / "rnxstudio.svg"))
    assert not icon.pixmap(64, 64).isNull(), "the app icon (SVG) does not render"
    lines.append(f"Qt {qVersion()}: platforms {', '.join(platforms)}; svg/png/jpeg; app icon renders")
    del app

    gpu = torch.cuda.is_available()
    if flavour == "cpu":
        assert os.environ.get("CUDA_VISIBLE_DEVICES") == "" and not gpu, "the cpu flavour must hide the GPU"
        lines.append("cpu flavour: GPU hidden (CUDA_VISIBLE_DEVICES='')")
    else:
        lines.append(f"cuda flavour: torch.cuda.is_available() = {gpu}")
    lines.append(import_every_module(source_modules(SOURCE)))
    lines.append(optional_left_out())
    return lines


def source_modules(package_dir: Path) -> list[str]:
    """Dotted names of every module and package under ``package_dir`` (a source tree), except
    ``__main__`` modules, which run the app when imported."""
    names = []
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def import_every_module(names: list[str]) -> str:
    """Import each module; frozen, each must come from the bundle, not from the source tree."""
    missing = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - collect them all, then name them
            missing.append(f"{name} ({type(exc).__name__}: {exc})")
            continue
        where = getattr(module, "__file__", "") or ""
        if getattr(sys, "frozen", False) and not where.startswith(sys._MEIPASS):
            missing.append(f"{name} (imported from {where}, not from the bundle)")
    if missing:
        raise ImportError(f"{len(missing)} of {len(names)} modules do not import: " + "; ".join(missing))
    return f"{names[0].split('.')[0]}: all {len(names)} modules of the source tree import"


def optional_left_out() -> str:
    """Frozen: OpenVINO is not in the bundle, inference resolves to torch, and asking for OpenVINO
    says how to get it instead of failing deep inside."""
    from rnxstudio.ml.precision import openvino_available, resolve

    if not getattr(sys, "frozen", False):
        return f"openvino: not checked unfrozen (installed here: {openvino_available()})"
    present = [name for name in OPTIONAL if importlib.util.find_spec(name) is not None]
    assert not present, f"left out on purpose but bundled: {present}"
    assert not openvino_available()
    choice = resolve("cpu")
    assert choice.backend == "torch", choice
    try:
        resolve("cpu", backend="openvino")
    except ValueError as exc:
        assert "openvino" in str(exc).lower(), exc
    else:
        raise AssertionError("backend='openvino' resolved without OpenVINO in the bundle")
    return f"openvino: left out; cpu inference resolves to {choice.name} ({choice.reason})"


def main() -> int:
    flavour, video = sys.argv[1], sys.argv[2]
    try:
        for line in check(flavour, video):
            print(f"bundle: {line}", flush=True)
    except Exception as exc:  # noqa: BLE001 - the first failure, named
        print(f"bundle: FAIL: {type(exc).__name__}: {exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
