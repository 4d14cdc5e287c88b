"""The device label in the status bar and the About box, found without blocking the window."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal


class DeviceProbe(QObject):
    """Finds the device label on a background thread; ``found`` arrives on the GUI thread."""

    found = Signal(str)

    def start(self) -> None:
        threading.Thread(target=lambda: self.found.emit(detect_device_label()), daemon=True,
                         name="rnx-device-probe").start()


def detect_device_label() -> str:
    """'CUDA: <name>' when torch sees a GPU, else 'CPU'. Without an NVIDIA driver on the
    machine there is no CUDA device, so torch (seconds to import) is not even loaded."""
    import importlib.util
    import os

    if importlib.util.find_spec("torch") is None:
        return "CPU"
    if not os.path.exists("/proc/driver/nvidia/version") and os.name == "posix" and os.uname().sysname == "Linux":
        return "CPU"
    import torch

    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)}"
    return "CPU"
