"""What the spec leaves out of the bundle, and the CPU flavour's cut of the CUDA libraries.

Imported by rnxstudio.spec at build time (PyInstaller's build environment; never by the app).
Entries of ``Analysis.binaries`` / ``Analysis.datas`` are ``(dest_name, src_name, typecode)``.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys

# Python modules the app never imports on any of its paths, found by PyInstaller only because some
# package mentions them. Each line says why it is safe to leave out.
EXCLUDED_MODULES = [
    "tkinter", "_tkinter",                      # no Tk GUI
    "PyQt5", "PyQt6", "PySide2",                # qtpy/pyqtgraph look for every binding; we ship PySide6
    "triton",                                   # torch.compile's GPU code generator (~0.9 GB); no user path compiles
    "matplotlib", "IPython", "jupyter_client",  # pycocotools' showAnns and pyqtgraph's notebook widgets only
    "pyqtgraph.examples", "pyqtgraph.jupyter", "pyqtgraph.opengl",
    "torch.utils.tensorboard", "tensorboard",   # the app logs its own curves
    # The optional OpenVINO backend (pip extra [openvino]) stays out even when the build venv has it:
    # hundreds of MB more, and its model conversion runs `sys.executable -m rnxstudio.ml.openvino_backend`,
    # which the frozen launcher does not run. Without it the app resolves every CPU run to torch
    # (rnxstudio.ml.precision.openvino_available() is False); smoke_bundle.py checks both.
    "openvino", "openvino_telemetry",
    # Qt modules that nothing in the app, pyqtgraph or qtawesome uses (and their libraries/plugins)
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets", "PySide6.QtQuickControls2",
    "PySide6.QtQuickTest", "PySide6.QtDesigner", "PySide6.QtHelp", "PySide6.QtUiTools",
    "PySide6.QtSql", "PySide6.QtTest", "PySide6.QtConcurrent", "PySide6.QtXml", "PySide6.QtNetwork",
]

# Files that no run of the app reads: headers, static/import libraries, CMake files, test suites,
# Qt translations (the app installs no translator) and tooling plugins.
EXCLUDED_FILES = [
    "*.h", "*.hpp", "*.cuh", "*.a", "*.lib", "*.cmake", "*.pyi",
    "*/include/*", "*/share/cmake/*", "*/tests/*", "*/test/*", "torch/bin/protoc*",
    "PySide6/Qt/translations/*", "PySide6/Qt/plugins/qmltooling/*", "PySide6/Qt/plugins/designer/*",
    "PySide6/Qt/plugins/sqldrivers/*", "cv2/data/*",
]


def _excluded(dest: str) -> bool:
    dest = dest.replace(os.sep, "/")
    return any(fnmatch.fnmatch(dest, pat) for pat in EXCLUDED_FILES)


def strip_unused(toc: list) -> list:
    """Drop headers, tests and tooling from a TOC (both flavours)."""
    return [entry for entry in toc if not _excluded(entry[0])]


# Libraries that only a GPU run uses: the NVIDIA wheels' and torch's own CUDA side libraries.
_GPU_DIRS = ("nvidia/",)
_GPU_NAMES = re.compile(r"lib(torch_cuda|c10_cuda|torch_nvshmem|caffe2_nvrtc)[^/]*\.so[.\d]*$")


def _is_gpu_library(entry: tuple) -> bool:
    """A shared library (never a Python extension module, which some import may need)."""
    dest = entry[0].replace(os.sep, "/")
    return entry[2] == "BINARY" and (dest.startswith(_GPU_DIRS) or bool(_GPU_NAMES.search(dest)))


def _needed(path: str) -> list[str]:
    """DT_NEEDED entries of an ELF file (empty for anything readelf cannot read)."""
    try:
        out = subprocess.run(["readelf", "-d", "-W", path], capture_output=True, text=True, check=False).stdout
    except OSError as exc:  # binutils missing: PyInstaller itself needs it on Linux
        raise SystemExit(f"rnxstudio.spec: the cpu flavour needs readelf (binutils): {exc}") from exc
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def cut_gpu_libraries(binaries: list) -> tuple[list, list]:
    """Keep a GPU library only when the dynamic linker needs it to load something else in the
    bundle (torch's CUDA build links cuBLAS, cuFFT, NCCL, ... so ``import torch`` fails without
    them); drop the ones only loaded at run time on a GPU (cuDNN's engine libraries, cuSOLVER via
    libtorch_cuda_linalg, NVRTC builtins, profiler libraries). Returns (kept, dropped)."""
    if not sys.platform.startswith("linux"):
        return binaries, []
    by_name: dict[str, tuple] = {}
    for entry in binaries:
        by_name.setdefault(os.path.basename(entry[0]), entry)
    keep: set[str] = set()
    todo = [entry for entry in binaries if not _is_gpu_library(entry)]
    seen: set[str] = set()
    while todo:
        entry = todo.pop()
        if entry[1] in seen:
            continue
        seen.add(entry[1])
        for name in _needed(entry[1]):
            dep = by_name.get(name)
            if dep is not None and _is_gpu_library(dep) and dep[0] not in keep:
                keep.add(dep[0])
                todo.append(dep)
    kept = [e for e in binaries if not _is_gpu_library(e) or e[0] in keep]
    dropped = [e for e in binaries if _is_gpu_library(e) and e[0] not in keep]
    return kept, dropped


def megabytes(toc: list) -> float:
    return sum(os.path.getsize(e[1]) for e in toc if os.path.isfile(e[1])) / 1e6
