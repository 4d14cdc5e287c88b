"""The published COCO-trained ResNeXt Faster R-CNN files the app knows, and getting them.

Each :class:`ExternalWeights` says where the file is published, its COCO box AP, its licence and
how to check it (full SHA-256 where published; mmdetection's file names end in the first 8 hex
digits of the SHA-256). :func:`fetch` downloads one with progress and checks it when the
network allows, and otherwise raises :class:`WeightsUnavailable` saying exactly which file to
fetch and where to put it. Files live in ``<user data>/weights/``; converted checkpoints next to
them as ``<entry name>.safetensors`` (+ ``.json``).
"""

from __future__ import annotations

import hashlib
import os
import socket
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from rnxstudio.core import paths
from rnxstudio.ml import backbones as bb

Progress = Callable[[str, float], None]  # (what is happening, fraction 0..1)

D2 = "https://dl.fbaipublicfiles.com/detectron2/COCO-Detection"
MM = "https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn"
D2_LICENCE = "CC BY-SA 3.0 (detectron2 model zoo: all models are licensed under CC BY-SA 3.0)"
MM_LICENCE = ("Apache-2.0 (the mmdetection repository's licence; its model zoo states no separate "
              "licence for the weights)")
# the 80 COCO categories' ids (1..90 with gaps), in the order both frameworks number their classes
COCO_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
            31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
            56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
            85, 86, 87, 88, 89, 90)


@dataclass(frozen=True)
class ExternalWeights:
    """One published checkpoint."""

    name: str
    title: str
    framework: str  # "detectron2" | "mmdet"
    url: str
    box_ap: float  # COCO val box AP as published
    licence: str
    bgr: bool  # the network expects BGR input (its first conv is swapped on conversion)
    sha256: str | None = None  # full digest, where published
    sha256_prefix: str | None = None  # leading hex digits published in the file name

    @property
    def filename(self) -> str:
        return os.path.basename(urlparse(self.url).path)

    def check_digest(self, digest: str) -> str | None:
        """None when ``digest`` (hex SHA-256) agrees with what is published, else why not."""
        if self.sha256 and digest != self.sha256:
            return f"SHA-256 {digest} is not the published {self.sha256}"
        if self.sha256_prefix and not digest.startswith(self.sha256_prefix):
            return f"SHA-256 {digest[:16]}... does not start with the published {self.sha256_prefix}"
        return None


CATALOG: dict[str, ExternalWeights] = {w.name: w for w in (
    ExternalWeights("d2_faster_rcnn_X_101_32x8d_FPN_3x", "detectron2 Faster R-CNN X101-32x8d FPN 3x (id 139173657)",
                    "detectron2", f"{D2}/faster_rcnn_X_101_32x8d_FPN_3x/139173657/model_final_68b088.pkl",
                    43.0, D2_LICENCE, bgr=True),
    ExternalWeights("mmdet_faster_rcnn_x101_64x4d_fpn_1x", "mmdetection Faster R-CNN X101-64x4d FPN 1x", "mmdet",
                    f"{MM}/faster_rcnn_x101_64x4d_fpn_1x_coco/faster_rcnn_x101_64x4d_fpn_1x_coco_20200204-833ee192.pth",
                    42.1, MM_LICENCE, bgr=False, sha256_prefix="833ee192"),
    ExternalWeights("mmdet_faster_rcnn_x101_32x4d_fpn_1x", "mmdetection Faster R-CNN X101-32x4d FPN 1x", "mmdet",
                    f"{MM}/faster_rcnn_x101_32x4d_fpn_1x_coco/faster_rcnn_x101_32x4d_fpn_1x_coco_20200203-cff10310.pth",
                    41.2, MM_LICENCE, bgr=False, sha256_prefix="cff10310"),
    ExternalWeights("mmdet_faster_rcnn_x101_64x4d_fpn_ms3x", "mmdetection Faster R-CNN X101-64x4d FPN 3x multi-scale",
                    "mmdet", f"{MM}/faster_rcnn_x101_64x4d_fpn_mstrain_3x_coco/"
                    "faster_rcnn_x101_64x4d_fpn_mstrain_3x_coco_20210524_124528-26c63de6.pth",
                    43.1, MM_LICENCE, bgr=False, sha256_prefix="26c63de6"),
    # backbone trained with Caffe2 at FB: mmdetection's config feeds it BGR with detectron2's mean/std
    ExternalWeights("mmdet_faster_rcnn_x101_32x8d_fpn_ms3x", "mmdetection Faster R-CNN X101-32x8d FPN 3x multi-scale",
                    "mmdet", f"{MM}/faster_rcnn_x101_32x8d_fpn_mstrain_3x_coco/"
                    "faster_rcnn_x101_32x8d_fpn_mstrain_3x_coco_20210604_182954-002e082a.pth",
                    42.4, MM_LICENCE, bgr=True, sha256_prefix="002e082a"),
    ExternalWeights("mmdet_faster_rcnn_x101_32x4d_fpn_ms3x", "mmdetection Faster R-CNN X101-32x4d FPN 3x multi-scale",
                    "mmdet", f"{MM}/faster_rcnn_x101_32x4d_fpn_mstrain_3x_coco/"
                    "faster_rcnn_x101_32x4d_fpn_mstrain_3x_coco_20210524_124151-16b9b260.pth",
                    42.5, MM_LICENCE, bgr=False, sha256_prefix="16b9b260"),
)}


class WeightsUnavailable(RuntimeError):
    """The file is not here and cannot be downloaded now; the message says what to do."""


def weights_dir() -> Path:
    return paths.user_data_dir() / "weights"


def local_path(entry: ExternalWeights) -> Path:
    """Where the original file is expected (and downloaded to)."""
    return weights_dir() / entry.filename


def converted_path(entry: ExternalWeights) -> Path:
    return weights_dir() / f"{entry.name}.safetensors"


def get(name: str) -> ExternalWeights:
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown published weights {name!r}; known: {', '.join(CATALOG)}") from None


def match_file(path: str | os.PathLike) -> ExternalWeights | None:
    """The catalog entry whose published file name is ``path``'s name, if any."""
    name = Path(path).name
    return next((e for e in CATALOG.values() if e.filename == name), None)


def coco_class_names() -> list[str]:
    """The 80 COCO class names in the frameworks' label order (resources/classes/coco80.txt)."""
    names = [n.strip() for n in (paths.resources_dir() / "classes" / "coco80.txt").read_text(
        encoding="utf-8").splitlines() if n.strip()]
    if len(names) != len(COCO_IDS):
        raise RuntimeError(f"resources/classes/coco80.txt has {len(names)} names, expected {len(COCO_IDS)}")
    return names


def sha256_file(path: str | os.PathLike, progress: Progress | None = None, what: str = "checking") -> str:
    p = Path(path)
    total = max(p.stat().st_size, 1)
    h = hashlib.sha256()
    done = 0
    with p.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
            done += len(chunk)
            if progress:
                progress(f"{what} {p.name}", done / total)
    return h.hexdigest()


def offline_message(entry: ExternalWeights, reason: str) -> str:
    dest = local_path(entry)
    return (f"{entry.title} is not on this computer and cannot be downloaded now ({reason}). "
            f"Download {entry.url} in a browser and save it as {dest} (or anywhere, then run "
            f"`rnxstudio weights import FILE --out OUT.safetensors`). Licence: {entry.licence}.")


def fetch(entry: ExternalWeights, *, progress: Progress | None = None, allow_download: bool | None = None,
          timeout: float = bb.DOWNLOAD_SOCKET_TIMEOUT_S) -> Path:
    """The original file for ``entry``: already in :func:`weights_dir`, or downloaded there with
    progress and checked against the published digest. Raises :class:`WeightsUnavailable` with
    instructions when it is missing and cannot be downloaded, ValueError when a download (or the
    file already there) fails the digest check."""
    dest = local_path(entry)
    if dest.is_file():
        return dest
    if not bb.downloads_allowed(allow_download):
        raise WeightsUnavailable(offline_message(entry, f"downloads disabled ({bb.NO_DOWNLOAD_ENV}=1)"))
    if urlparse(entry.url).scheme in ("http", "https") and not bb._host_reachable(entry.url):
        raise WeightsUnavailable(offline_message(entry, f"{urlparse(entry.url).hostname} is not reachable"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    try:
        req = urllib.request.Request(entry.url, headers={"User-Agent": "rnxstudio"})
        with urllib.request.urlopen(req, timeout=timeout) as resp, part.open("wb") as out:  # noqa: S310
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                h.update(chunk)
                done += len(chunk)
                if progress:
                    progress(f"downloading {entry.filename}", done / total if total else 0.0)
    except (OSError, socket.timeout, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise WeightsUnavailable(offline_message(entry, f"download failed: {exc}")) from exc
    problem = entry.check_digest(h.hexdigest())
    if problem:
        part.unlink(missing_ok=True)
        raise ValueError(f"{entry.url}: downloaded file refused: {problem}")
    os.replace(part, dest)
    return dest
