"""Which inference path suits the processor this process runs on, decided at run time.

CPUs of one "machine type" differ: one VM reports AVX2 only, the next AVX-512 with native bf16
(``avx512_bf16``, AMX). bf16 is 2.5-3.5x faster than fp32 where the CPU computes it natively and
about 4x *slower* where it does not (oneDNN then emulates it), so the choice is made from what
the CPU reports, never from the machine's name:

* :func:`cpu_info` reads ``/proc/cpuinfo`` (Linux), torch's oneDNN bf16 check and torch's CPU
  capability, and honours the oneDNN / ATen ISA limits (``ONEDNN_MAX_CPU_ISA``,
  ``DNNL_MAX_CPU_ISA``, ``ATEN_CPU_CAPABILITY``) so an AVX2-only machine can be emulated.
* :func:`resolve` turns the user's ``precision`` ("auto", "fp32", "bf16", "fp16") and ``backend``
  ("auto", "torch", "openvino") into a :class:`Choice`: the optimisation mode for
  :func:`rnxstudio.ml.fast.plan_for`, a short name for the status bar and the reason.
* :func:`precision_choices` lists the options a settings dialog can offer, each with a note.

The table that justifies "auto" is in docs/PERFORMANCE.md; ADR 0009 records the decision.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass, field

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BACKENDS = ("auto", "torch", "openvino")
_ISA_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# OpenVINO against the torch path of the same precision, X50-FPN 800 px, AMX VM, one run
# (docs/PERFORMANCE.md): bf16 4.71x vs torch bf16 3.50x (wins); fp32 2.94x vs 2.99x (a tie: kept off).
OPENVINO_WINS = {"bf16": True, "fp32": False}
# torch bf16 on the demo detector: with the whole backbone + FPN in bf16, 98.7 % of eager's boxes
# matched (under the guard's 99 %); with the stem kept fp32 (the torch bf16 path resolve() builds,
# "+bf16+fp32_stem") it passes (docs/PERFORMANCE.md). So "auto" uses torch bf16 where bf16 is native.
TORCH_BF16_PASSES_GUARD = True


@dataclass(frozen=True)
class CpuInfo:
    """What the CPU offers for inference, as this process sees it."""

    model: str
    flags: frozenset[str]
    torch_capability: str  # torch.backends.cpu.get_cpu_capability(): "AVX2", "AVX512", ...
    onednn_bf16: bool  # torch.ops.mkldnn._is_mkldnn_bf16_supported()
    isa_limit: str | None  # an ISA cap set in the environment (emulating an older CPU), if any

    @property
    def bf16_flags(self) -> list[str]:
        return [f for f in _BF16_FLAGS if f in self.flags]

    @property
    def native_bf16(self) -> bool:
        """True when bf16 runs natively (AVX512-BF16 or AMX) and no environment cap forbids it."""
        if self.isa_limit is not None and not _allows_bf16(self.isa_limit):
            return False
        has_flags = bool(self.bf16_flags) if self.flags else True  # no cpuinfo: trust oneDNN
        return self.onednn_bf16 and has_flags

    def summary(self) -> str:
        isa = "AMX" if "amx_bf16" in self.flags else "AVX-512" if "avx512f" in self.flags else \
            "AVX2" if "avx2" in self.flags else self.torch_capability
        bf16 = "native bf16 (" + ", ".join(self.bf16_flags) + ")" if self.native_bf16 else "no native bf16"
        limit = f", capped to {self.isa_limit} by the environment (emulation)" if self.isa_limit else ""
        return f"{self.model or platform.machine()}: {isa}, {bf16}{limit}"


def _allows_bf16(limit: str) -> bool:
    lim = limit.lower()
    return "bf16" in lim or "amx" in lim or lim in ("all", "default", "avx10_1_512", "avx512_core_fp16")


def _isa_limit() -> str | None:
    for name in _ISA_ENV:
        value = os.environ.get(name, "").strip()
        if value and value.lower() not in ("all", "default"):
            return value
    return None


def _read_cpuinfo() -> tuple[str, frozenset[str]]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            text = fh.read(200_000)
    except OSError:
        return "", frozenset()
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
        if model and flags:
            break
    return model, flags


@functools.lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """The CPU's inference features (cached: they do not change while the process runs)."""
    model, flags = _read_cpuinfo()
    try:
        onednn_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn_bf16 = False
    return CpuInfo(model, flags, str(torch.backends.cpu.get_cpu_capability()), onednn_bf16, _isa_limit())


def openvino_available() -> bool:
    """True when the optional OpenVINO runtime is installed (``pip install -e ".[openvino]"``)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


@dataclass(frozen=True)
class Choice:
    """One resolved inference path: what to run and why."""

    name: str  # short, for the status bar and bench output: "openvino bf16", "torch fp32", ...
    mode: str  # an rnxstudio.ml.fast optimisation mode
    precision: str  # "fp32" | "bf16" | "fp16"
    backend: str  # "torch" | "openvino"
    reason: str
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for a status bar: the path and why it was chosen."""
        return f"{self.name} ({self.reason})"

    def as_record(self) -> dict[str, str]:
        """What a prediction run records about how it was computed."""
        return {"path": self.name, "mode": self.mode, "precision": self.precision, "backend": self.backend,
                "reason": self.reason}


def _check(value: str, allowed: tuple[str, ...], what: str) -> str:
    v = (value or "auto").strip().lower()
    if v not in allowed:
        raise ValueError(f"unknown {what} {value!r}; use one of {', '.join(allowed)}")
    return v


def resolve(device: torch.device | str, precision: str = "auto", backend: str = "auto",
            info: CpuInfo | None = None, have_openvino: bool | None = None) -> Choice:
    """The inference path for ``device`` given the user's ``precision`` and ``backend`` wishes.

    Raises ValueError for an unknown value, and for an explicit ``backend="openvino"`` that is not
    installed or not on a CPU (the message says how to install it).
    """
    precision = _check(precision, PRECISIONS, "precision")
    backend = _check(backend, BACKENDS, "backend")
    dev = torch.device(device)
    if dev.type != "cpu":
        if backend == "openvino":
            raise ValueError("the OpenVINO backend runs on the CPU only; use --device cpu or --backend torch")
        prec = "fp16" if precision == "auto" and dev.type == "cuda" else ("fp32" if precision == "auto" else precision)
        amp = "" if prec == "fp32" else "+" + prec
        reason = "fp16 tensor cores" if prec == "fp16" and precision == "auto" else f"{prec} as asked"
        return Choice(f"torch {prec}", f"fold+channels_last{amp}", prec, "torch", f"{dev.type}: {reason}")

    info = info or cpu_info()
    ov = openvino_available() if have_openvino is None else have_openvino
    warnings: list[str] = []
    if precision == "auto":
        ov_bf16 = ov and backend != "torch" and OPENVINO_WINS["bf16"]
        torch_bf16 = backend != "openvino" and TORCH_BF16_PASSES_GUARD
        if info.native_bf16 and (ov_bf16 or torch_bf16):
            prec, why = "bf16", "native bf16: " + "/".join(info.bf16_flags or ["oneDNN"])
        elif info.native_bf16:
            prec = "fp32"
            why = ("native bf16, but torch bf16 missed the accuracy guard; "
                   + ('pip install -e ".[openvino]" for bf16' if not ov else "OpenVINO not chosen"))
        else:
            prec, why = "fp32", "no native bf16 on this CPU"
    else:
        prec, why = precision, f"{precision} as asked"
        if prec == "bf16" and not info.native_bf16:
            warnings.append("bf16 asked for, but this CPU has no native bf16: expect it ~4x SLOWER than fp32")
        if prec == "fp16":
            warnings.append("fp16 on a CPU is emulated and slow; it is meant for CUDA")
    if backend == "openvino" and not ov:
        raise ValueError('the OpenVINO backend is not installed: pip install -e ".[openvino]" '
                         "(or pip install openvino), or use --backend torch")
    use_ov = backend == "openvino" or (backend == "auto" and ov and OPENVINO_WINS.get(prec, False))
    if use_ov and prec == "fp16":
        use_ov = backend == "openvino"
    if use_ov:
        mode = "openvino" + ("+bf16" if prec == "bf16" else "+fp16" if prec == "fp16" else "") + "+sparse_roi"
        return Choice(f"openvino {prec}", mode, prec, "openvino", why, warnings)
    amp = "" if prec == "fp32" else "+bf16+fp32_stem" if prec == "bf16" else "+" + prec
    return Choice(f"torch {prec}", f"fold+channels_last{amp}+sparse_roi", prec, "torch", why, warnings)


def precision_choices(device: torch.device | str = "cpu", info: CpuInfo | None = None) -> list[tuple[str, str]]:
    """(value, label) pairs for a settings dialog, "auto" first, each label saying what it means here."""
    dev = torch.device(device)
    auto = resolve(dev, "auto", "auto", info)
    out = [("auto", f"Automatic — {auto.name} on this machine")]
    if dev.type != "cpu":
        return out + [("fp32", "fp32 (exact)"), ("fp16", "fp16 autocast (tensor cores)"), ("bf16", "bf16 autocast")]
    info = info or cpu_info()
    bf16 = "bf16 (native on this CPU: fastest)" if info.native_bf16 else \
        "bf16 (NOT native on this CPU: ~4x slower)"
    return out + [("fp32", "fp32 (exact, folded + channels-last)"), ("bf16", bf16)]


def backend_choices() -> list[tuple[str, str]]:
    """(value, label) pairs for the backend option; OpenVINO is marked when it is not installed."""
    ov = "OpenVINO (backbone + FPN)" if openvino_available() else \
        'OpenVINO — not installed (pip install -e ".[openvino]")'
    return [("auto", "Automatic"), ("torch", "PyTorch"), ("openvino", ov)]
