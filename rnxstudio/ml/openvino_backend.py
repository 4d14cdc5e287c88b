"""OpenVINO for the backbone + FPN (about 90 % of a detector's FLOPs); RPN and RoI heads stay in torch.

Optional: ``pip install -e ".[openvino]"``. Nothing here imports ``openvino`` until a model is
converted, so the app runs without it.

* **Converted once per weights.** ``openvino.convert_model`` on the (folded) backbone with a
  dynamic ``[N, 3, H, W]`` input takes ~15 s on 2 cores; the IR is saved (fp32 weights, never
  compressed) under ``<user data>/openvino/<key>/`` and read back in well under a second. The key
  is a SHA-256 of the backbone's weights and buffers (for a checkpoint that is a function of the
  checkpoint; it also changes when weights change in memory after a fine-tune), the conversion
  settings and the OpenVINO version. A damaged cache entry is converted again.
* **Off the caller's thread's lock.** The conversion runs in a child process
  (``python -m rnxstudio.ml.openvino_backend``): in-process, tracing and the converter hold the
  interpreter lock for up to ~140 ms at a time, which froze the GUI thread (`bench gui-stall`).
  A frozen app (no ``-m``) or ``RNXSTUDIO_OV_CONVERT_IN_PROCESS=1`` converts in-process.
* **Precision** is OpenVINO's ``INFERENCE_PRECISION_HINT``: ``f32`` (exact to ~3e-6) or ``bf16``
  (its default on CPUs with native bf16; asked for explicitly here either way).
* **No telemetry.** OpenVINO reports usage through ``openvino-telemetry`` unless the user opted
  out beforehand: ``import openvino`` itself sends an "import" event (openvino.tools.ovc's
  ``__init__``) and writes a client id under ``~/intel``, and each conversion sends more.
  :func:`disable_telemetry` must therefore run before the process first imports ``openvino``;
  everything here calls it first (:func:`rnxstudio.ml.precision.openvino_available` only looks
  the package up, it does not import it). tests/unit/test_openvino_backend.py checks offline, in
  the app and its converter child, that no connection is attempted and no file is written, and
  that OpenVINO left alone does try (the control).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

CACHE_FORMAT = 1
_TELEMETRY_MODULES = ("openvino_telemetry", "openvino_telemetry.backend")
_OVC_MODULES_WITH_TM = ("openvino.tools.ovc.convert_impl", "openvino.tools.ovc.telemetry_utils",
                        "openvino.tools.ovc.utils", "openvino.tools.ovc.main")


def disable_telemetry() -> None:
    """Make OpenVINO's converter send nothing, whatever the user's consent file says.

    The converter's modules bind ``openvino_telemetry`` as ``tm`` and fall back to OpenVINO's own
    no-op ``telemetry_stub`` when that import fails. ``import openvino`` may already have imported
    ``openvino_telemetry`` (2026.4 does), so: block the import if it has not happened, otherwise
    make its ``Telemetry`` the stub's; then import the converter's modules now and point their
    ``tm`` at the stub. Idempotent; call it before any conversion.
    """
    import importlib

    for name in _TELEMETRY_MODULES:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]  # import now raises ImportError
    try:
        from openvino.tools.ovc import telemetry_stub
    except ImportError:
        return
    real = sys.modules.get("openvino_telemetry")
    if real is not None and getattr(real, "Telemetry", None) is not telemetry_stub.Telemetry:
        real.Telemetry = telemetry_stub.Telemetry
    for name in _OVC_MODULES_WITH_TM:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if getattr(mod, "tm", None) is not telemetry_stub:
            mod.tm = telemetry_stub


def cache_dir() -> Path:
    from rnxstudio.core.paths import user_data_dir

    return user_data_dir() / "openvino"


def weights_key(module: nn.Module, settings: dict) -> str:
    """SHA-256 over ``module``'s state (names, shapes, dtypes, bytes) and ``settings``."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name, t in module.state_dict().items():
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes())
    return h.hexdigest()


def _example_input(channels_last: bool = False) -> torch.Tensor:
    x = torch.rand(1, 3, 224, 320, generator=torch.Generator().manual_seed(0))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def convert_cached(backbone: nn.Module, *, key_extra: dict | None = None, log=None) -> tuple[object, Path, bool]:
    """(OpenVINO model, its cache folder, True if it came from the cache) for ``backbone``."""
    disable_telemetry()
    import openvino as ov

    settings = {"format": CACHE_FORMAT, "openvino": ov.get_version(), "input": "N,3,H,W", **(key_extra or {})}
    key = weights_key(backbone, settings)
    folder = cache_dir() / key[:32]
    xml = folder / "backbone.xml"
    core = ov.Core()
    if xml.is_file():
        try:
            return core.read_model(str(xml)), folder, True
        except Exception as exc:  # noqa: BLE001 - a damaged entry is rebuilt, not fatal
            if log:
                log(f"OpenVINO cache {folder} unreadable ({exc}); converting again")
    t0 = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    ov_model = None
    try:
        if _in_process():
            ov.save_model(_convert(backbone), str(tmp / "backbone.xml"), compress_to_fp16=False)
        else:
            _convert_in_subprocess(backbone, tmp / "backbone.xml")
        ov_model = core.read_model(str(tmp / "backbone.xml"))
        (tmp / "meta.json").write_text(json.dumps({**settings, "key": key,
                                                   "convert_s": round(time.perf_counter() - t0, 1)}, indent=1))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        tmp = folder / ".none"  # moved: nothing left to remove
    except OSError as exc:
        if ov_model is None:
            raise
        if log:
            log(f"could not cache the OpenVINO model in {folder} ({exc}); it will be converted again next time")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ov_model, folder, False


def _in_process() -> bool:
    """Convert in this process only in a frozen app (no ``python -m``) or when asked to."""
    return bool(getattr(sys, "frozen", False)) or os.environ.get("RNXSTUDIO_OV_CONVERT_IN_PROCESS") == "1"


def _convert(backbone: nn.Module):
    import openvino as ov

    disable_telemetry()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace deprecation notes from the converter's tracer
        return ov.convert_model(backbone.eval(), example_input=_example_input(),
                                input=[ov.PartialShape([-1, 3, -1, -1])])


def _convert_in_subprocess(backbone: nn.Module, xml: Path) -> None:
    """Convert in a child process: tracing and OpenVINO's converter hold the interpreter lock for
    over 100 ms at a time, which would freeze the GUI thread of this process (measured 138 ms)."""
    import subprocess

    src = xml.with_name("backbone.pt")
    torch.save(backbone, src)  # our own module, read back only by our own child below
    proc = subprocess.run([sys.executable, "-m", "rnxstudio.ml.openvino_backend", str(src), str(xml)],
                          capture_output=True, text=True, timeout=3600)
    src.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RuntimeError(f"OpenVINO conversion failed: {proc.stderr.strip()[-1500:]}")


def _main(argv: list[str]) -> int:
    """``python -m rnxstudio.ml.openvino_backend BACKBONE.pt OUT.xml`` (used by the parent above)."""
    disable_telemetry()
    import openvino as ov

    backbone = torch.load(argv[0], weights_only=False, map_location="cpu")
    ov.save_model(_convert(backbone), argv[1], compress_to_fp16=False)
    return 0


class OpenVINOBackbone(nn.Module):
    """A torchvision detection backbone run by OpenVINO; same ``out_channels`` and output dict.

    ``precision`` is "fp32" or "bf16" (OpenVINO's inference precision on the CPU); ``threads``
    defaults to torch's intra-op thread count so both runtimes share the cores alike.
    """

    def __init__(self, backbone: nn.Module, *, precision: str = "fp32", threads: int | None = None,
                 key_extra: dict | None = None):
        super().__init__()
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"OpenVINO precision must be fp32, bf16 or fp16, got {precision!r}")
        disable_telemetry()
        import openvino as ov

        self.out_channels = backbone.out_channels
        self.precision = precision
        ov_model, self.cache_folder, self.from_cache = convert_cached(backbone, key_extra=key_extra)
        config = {"INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}[precision],
                  "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads())}
        self._compiled = ov.Core().compile_model(ov_model, "CPU", config)
        # a dict output keeps its keys as names; a one-map (C4) trunk's single output has none -> "0"
        self._names = [o.get_any_name() if o.get_names() else str(i)
                       for i, o in enumerate(self._compiled.outputs)]
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        arr = x.detach().to("cpu", torch.float32).contiguous().numpy()
        with self._lock:
            result = self._request.infer([arr], share_inputs=True, share_outputs=False)
        outs = [torch.from_numpy(result[o]) for o in self._compiled.outputs]
        return OrderedDict(zip(self._names, outs))


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
