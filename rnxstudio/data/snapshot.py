"""Training snapshots: the exact labels a fine-tuning run learns from, frozen as a COCO export.

A run in the app first writes the chosen images' labels into its own folder (``<user data>/runs/
<timestamp>/snapshot/annotations.json``) through :func:`rnxstudio.data.exchange.export_labels`,
the same code as File → Export, so every checkpoint can be traced to the labels it saw and the
run can be repeated anywhere with ``rnxstudio train --coco <snapshot> --images <image root>``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from rnxstudio.core.model import ImageStatus
from rnxstudio.core.paths import user_data_dir
from rnxstudio.data.exchange import ExchangeError, export_labels

# verified images only | every image with a person's box | images a person corrected (a drawn
# box, an edited or a rejected prediction: ProjectStore.corrected_image_ids) that are verified or
# have a person's box — not those whose labels are the model's own boxes accepted as they were
SELECTIONS = ("verified", "labelled", "corrected")


@dataclass
class Snapshot:
    coco: Path
    image_root: Path
    images: int
    boxes: int
    class_names: list[str] = field(default_factory=list)
    selection: str = "verified"
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        what = {"verified": "verified images", "corrected": "corrected images"}.get(self.selection, "images with boxes")
        text = f"{self.images} {what}, {self.boxes} boxes, {len(self.class_names)} classes"
        if self.skipped:  # unreadable images are never trained on (export_labels leaves them out)
            text += f" ({len(self.skipped)} unreadable image{'s' if len(self.skipped) != 1 else ''} left out)"
        return text


def runs_dir() -> Path:
    return user_data_dir() / "runs"


def new_run_dir(base: str | os.PathLike | None = None, *, prefix: str = "") -> Path:
    """Create and return a fresh ``<base>/<prefix><YYYYmmdd-HHMMSS>[-N]`` folder."""
    root = Path(base) if base is not None else runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    stamp = prefix + time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = root / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise OSError(f"{root}: cannot create a new run folder (too many runs named {stamp})")


def write_snapshot(store, run_dir: str | os.PathLike, *, selection: str = "verified") -> Snapshot:
    """Export the chosen images of ``store`` as COCO under ``run_dir/snapshot``, written once.

    ``selection``: ``"verified"`` — images marked verified (their empty images are kept as
    negatives); ``"labelled"`` — every image with at least one manual or accepted box;
    ``"corrected"`` — images a person corrected (see :data:`SELECTIONS`).
    Raises :class:`ExchangeError` when nothing qualifies. (The app calls this through
    ``ProjectSession.write_snapshot``; training reads the file back with data.coco.)"""
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, not {selection!r}")
    out = Path(run_dir) / "snapshot" / "annotations.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if selection == "corrected":
        with_boxes = set(store.person_boxes())
        verified = set(store.image_ids(status=ImageStatus.VERIFIED))
        ids = [i for i in store.corrected_image_ids() if i in with_boxes or i in verified]
        if not ids:
            raise ExchangeError(f"{store.path}: no image was corrected by a person (a drawn box, an edited "
                                "or a rejected prediction) to train on")
        result = export_labels(store, "coco", out, image_ids=ids)
    elif selection == "labelled":
        ids = sorted(store.person_boxes())
        if not ids:
            raise ExchangeError(f"{store.path}: no image has a manual or accepted box to train on")
        result = export_labels(store, "coco", out, image_ids=ids)
    else:
        result = export_labels(store, "coco", out, verified_only=True)
        if not result.boxes:
            raise ExchangeError(f"{store.path}: the verified images have no boxes to train on")
    root = Path(result.image_root) if result.image_root else out.parent
    return Snapshot(coco=out, image_root=root, images=result.images, boxes=result.boxes,
                    class_names=[c.name for c in sorted(store.categories(), key=lambda c: c.id)],
                    selection=selection, skipped=list(result.skipped))
