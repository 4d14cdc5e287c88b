"""Backbone pieces for the zoo: norm-layer factories, the tiny ResNeXt, the one-map (C4) trunk,
and ImageNet weight lookup (hub cache, optional bounded download, or a user file).

Nothing here builds a full detector; :mod:`rnxstudio.ml.zoo` composes these parts.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

NO_DOWNLOAD_ENV = "RNXSTUDIO_NO_DOWNLOAD"
PROBE_TIMEOUT_S = 3.0
DOWNLOAD_SOCKET_TIMEOUT_S = 10.0

NORMS = ("frozen_bn", "gn", "bn")


def gn_groups(channels: int, max_groups: int = 32) -> int:
    """Largest power-of-two group count <= ``max_groups`` that divides ``channels``."""
    g = max_groups
    while g > 1 and channels % g:
        g //= 2
    return g


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 32 groups (fewer for narrow layers): the norm for from-scratch training."""
    return nn.GroupNorm(gn_groups(channels), channels)


def norm_factory(norm: str) -> Callable[[int], nn.Module]:
    """Map a norm name ("frozen_bn" | "gn" | "bn") to a ``channels -> module`` factory."""
    if norm == "frozen_bn":
        return FrozenBatchNorm2d
    if norm == "gn":
        return group_norm
    if norm == "bn":
        return nn.BatchNorm2d
    raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")


# --------------------------------------------------------------------------- tiny ResNeXt


class TinyBottleneck(nn.Module):
    """ResNeXt bottleneck: 1x1 reduce -> 3x3 grouped (cardinality) -> 1x1 expand, plus shortcut."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, stride: int, groups: int,
                 norm: Callable[[int], nn.Module]):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, mid_ch, 1, bias=False)
        self.bn1 = norm(mid_ch)
        self.conv2 = nn.Conv2d(mid_ch, mid_ch, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = norm(mid_ch)
        self.conv3 = nn.Conv2d(mid_ch, out_ch, 1, bias=False)
        self.bn3 = norm(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), norm(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


TINY_OUT_CHANNELS = (64, 128, 256, 512)
TINY_MID_CHANNELS = (32, 64, 128, 256)
TINY_CARDINALITY = 32


class TinyResNeXt(nn.Module):
    """A narrow ResNeXt (one bottleneck per stage, cardinality 32) for tests and CPU demos.

    Child names follow torchvision's ResNet (conv1, bn1, relu, maxpool, layer1..layer4) so the
    same FPN extractor and stage-freezing rules apply.
    """

    def __init__(self, norm: Callable[[int], nn.Module], blocks: tuple[int, ...] = (1, 1, 1, 1),
                 stem: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = stem
        for i, (n, mid, out) in enumerate(zip(blocks, TINY_MID_CHANNELS, TINY_OUT_CHANNELS, strict=True)):
            layers = []
            for j in range(n):
                stride = 2 if (j == 0 and i > 0) else 1
                layers.append(TinyBottleneck(in_ch, mid, out, stride, TINY_CARDINALITY, norm))
                in_ch = out
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class C4Trunk(nn.Sequential):
    """ResNet stem + layer1..layer4 as one stride-32 map; ``out_channels`` is what FasterRCNN needs."""

    def __init__(self, resnet: nn.Module):
        names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
        super().__init__(*[getattr(resnet, n) for n in names])
        self.out_channels = resnet.fc.in_features


def freeze_stages(module: nn.Module, trainable_layers: int, *, prefix: str = "") -> None:
    """Freeze all but the last ``trainable_layers`` of (layer4, layer3, layer2, layer1, conv1)."""
    if not 0 <= trainable_layers <= 5:
        raise ValueError(f"trainable_layers must be in 0..5, got {trainable_layers}")
    train = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
    if trainable_layers == 5:
        train.append("bn1")
    for name, p in module.named_parameters():
        short = name[len(prefix):] if prefix and name.startswith(prefix) else name
        if not any(short.startswith(t) for t in train):
            p.requires_grad_(False)


# --------------------------------------------------------------------------- ImageNet weights


def hub_checkpoint_path(url: str) -> Path:
    """Where torch.hub keeps (and torchvision looks for) the file at ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def downloads_allowed(allow_download: bool | None) -> bool:
    """``allow_download`` wins when given; otherwise allowed unless RNXSTUDIO_NO_DOWNLOAD=1."""
    if allow_download is not None:
        return bool(allow_download)
    return os.environ.get(NO_DOWNLOAD_ENV, "").strip().lower() not in ("1", "true", "yes", "on")


def _host_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """HTTP HEAD ``url`` from a daemon thread; True only for a real answer (status < 400).

    The thread is abandoned after ``timeout`` (+0.5 s), so DNS stalls or a proxy that accepts
    connections and never answers cannot block the caller.
    """
    result = {"ok": False}

    def probe() -> None:
        try:
            req = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "rnxstudio"})
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - fixed https URLs
                result["ok"] = resp.status < 400
        except (OSError, ValueError):
            pass

    t = threading.Thread(target=probe, daemon=True, name="rnx-weights-probe")
    t.start()
    t.join(timeout + 0.5)
    return result["ok"]


def try_download(url: str, dest: Path) -> str | None:
    """Download ``url`` to ``dest`` with bounded waits. Return None on success, else the reason."""
    if not _host_reachable(url):
        return f"{urlparse(url).hostname} is not reachable (offline?)"
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT_S)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(dest), progress=False)
    except Exception as exc:  # noqa: BLE001 - any failure means "no weights", reported as text
        return f"download failed: {exc}"
    finally:
        socket.setdefaulttimeout(old)
    return None


_STRIP_PREFIXES = ("module.", "backbone.body.", "body.", "backbone.")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file or a weights-only torch file (never full unpickling)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: file not found")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p))
    obj = torch.load(str(p), map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise ValueError(f"{p}: expected a state dict (name -> tensor), found {type(obj).__name__}")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def load_backbone_weights(resnet: nn.Module, state: dict[str, torch.Tensor], source: str, *,
                          conv_only: bool = False) -> list[str]:
    """Load ImageNet-style weights into a torchvision ResNet/ResNeXt; return warnings.

    Accepts classification state dicts (``fc.*`` dropped) and detector dicts whose backbone keys
    carry a ``backbone.body.`` prefix. ``conv_only`` loads convolutions and leaves the norm layers
    fresh (GroupNorm cannot use BatchNorm statistics). Raises ValueError if shapes or keys do not
    match the backbone.
    """
    own = resnet.state_dict()
    if conv_only:
        own = {k: v for k, v in own.items() if v.ndim == 4}
    cleaned: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        for pre in _STRIP_PREFIXES:
            if k.startswith(pre) and k[len(pre):] in own:
                k = k[len(pre):]
                break
        if k.startswith("fc.") or k not in own:
            continue
        if own[k].shape != v.shape:
            raise ValueError(
                f"{source}: tensor {k} has shape {tuple(v.shape)}, this backbone needs {tuple(own[k].shape)} "
                "(weights for a different architecture?)"
            )
        cleaned[k] = v
    conv_keys = [k for k in own if k.endswith(".weight") and own[k].ndim == 4]
    found = sum(1 for k in conv_keys if k in cleaned)
    if found < len(conv_keys):
        raise ValueError(
            f"{source}: only {found} of {len(conv_keys)} convolution weights match this backbone "
            "(weights for a different architecture?)"
        )
    result = resnet.load_state_dict(cleaned, strict=False)
    warnings = []
    missing = [k for k in result.missing_keys if not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
    if missing:
        warnings.append(f"{source}: {len(missing)} backbone tensors not in the file kept their initial values")
    return warnings
