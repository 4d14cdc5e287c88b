"""OpenVINO for the backbone + FPN (about 90 % of a detector's FLOPs); RPN and RoI heads stay in torch.

Optional: ``pip install -e ".[openvino]"``. Nothing here imports ``openvino`` until a model is
converted, so the app runs without it.

* **Converted once per weights.** ``openvino.convert_model`` on the (folded) backbone with a
  dynamic ``[N, 3, H, W]`` input takes ~15 s on 2 cores; the IR is saved (fp32 weights, never
  compressed) under ``<user data>/openvino/<key>/`` and read back in well under a second. The key
  is a SHA-256 of the backbone's weights and buffers (for a checkpoint that is a function of the
  checkpoint; it also changes when weights change in memory after a fine-tune), the conversion
  settings and the OpenVINO version. A damaged cache entry is converted again.
* **Precision** is OpenVINO's ``INFERENCE_PRECISION_HINT``: ``f32`` (exact to ~3e-6) or ``bf16``
  (its default on CPUs with native bf16; asked for explicitly here either way).
* **No telemetry.** OpenVINO's converter reports usage through ``openvino-telemetry`` unless the
  user opted out beforehand. :func:`disable_telemetry` makes the converter use OpenVINO's own
  no-op stub before anything is converted; tests/unit/test_openvino_backend.py checks offline that
  no connection is attempted and no consent/client-id file is written.
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

    The converter imports ``openvino_telemetry`` and falls back to its own no-op
    ``telemetry_stub`` when that import fails: block the import for this process, and point any
    converter module already imported at the stub.
    """
    for name in _TELEMETRY_MODULES:
        mod = sys.modules.get(name)
        if mod is None:
            sys.modules[name] = None  # type: ignore[assignment]  # import now raises ImportError
    try:
        from openvino.tools.ovc import telemetry_stub
    except ImportError:
        return
    for name in _OVC_MODULES_WITH_TM:
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "tm", None) is not telemetry_stub:
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
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace deprecation notes from the converter's tracer
        ov_model = ov.convert_model(backbone.eval(), example_input=_example_input(),
                                    input=[ov.PartialShape([-1, 3, -1, -1])])
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        ov.save_model(ov_model, str(tmp / "backbone.xml"), compress_to_fp16=False)
        (tmp / "meta.json").write_text(json.dumps({**settings, "key": key,
                                                   "convert_s": round(time.perf_counter() - t0, 1)}, indent=1))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if log:
            log(f"could not cache the OpenVINO model in {folder} ({exc}); it will be converted again next time")
    return ov_model, folder, False


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
        import openvino as ov

        self.out_channels = backbone.out_channels
        self.precision = precision
        ov_model, self.cache_folder, self.from_cache = convert_cached(backbone, key_extra=key_extra)
        config = {"INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}[precision],
                  "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads())}
        self._compiled = ov.Core().compile_model(ov_model, "CPU", config)
        self._names = [o.get_any_name() for o in self._compiled.outputs]
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        arr = x.detach().to("cpu", torch.float32).contiguous().numpy()
        with self._lock:
            result = self._request.infer([arr], share_inputs=True, share_outputs=False)
        outs = [torch.from_numpy(result[o]) for o in self._compiled.outputs]
        return OrderedDict(zip(self._names, outs))
