"""Compute device choice: "auto" prefers CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import torch


class DeviceError(ValueError):
    """A device string that is malformed or names hardware that is not present."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Resolve "auto" | "cpu" | "cuda" | "cuda:N" | "mps" to an available :class:`torch.device`."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = (spec or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(text)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {spec!r}: use auto, cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {spec!r} requested but CUDA is not available on this machine")
        n = torch.cuda.device_count()
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        if index >= n:
            raise DeviceError(f"device {spec!r} requested but only {n} CUDA device(s) exist")
        return torch.device("cuda", index)
    if dev.type == "mps":
        if not _mps_available():
            raise DeviceError(f"device {spec!r} requested but Apple MPS is not available")
        return dev
    raise DeviceError(f"unsupported device {spec!r}: use auto, cpu, cuda, cuda:N or mps")


def device_label(device: torch.device | str) -> str:
    """Human-readable name, e.g. "NVIDIA H100 80GB HBM3 (cuda:0)" or "CPU (8 threads)"."""
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"{torch.cuda.get_device_name(index)} (cuda:{index})"
    if dev.type == "mps":
        return "Apple GPU (mps)"
    return f"CPU ({torch.get_num_threads()} threads)"


def available_devices() -> list[tuple[str, str]]:
    """(id, label) for every usable device, best first; "cpu" is always last."""
    out: list[tuple[str, str]] = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out.append((f"cuda:{i}", torch.cuda.get_device_name(i)))
    if _mps_available():
        out.append(("mps", "Apple GPU"))
    out.append(("cpu", "CPU"))
    return out
