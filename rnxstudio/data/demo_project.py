"""The demo project: the synthetic shapes folder, opened as a project, with the ground truth
of the first half of the images imported as verified labels (ready to fine-tune on) and the
second half left unlabeled (ready to pre-label and correct)."""

from __future__ import annotations

from pathlib import Path

from rnxstudio.core.model import ImageStatus, LabelSet
from rnxstudio.core.paths import demo_dir
from rnxstudio.data.demo import ensure_demo


def prepare_demo_project(root: str | Path | None = None) -> Path:
    """Create the demo data and its project if needed; return the folder to open."""
    from rnxstudio.data.coco import read_coco
    from rnxstudio.data.project import open_project

    images_dir = ensure_demo(Path(root) if root is not None else demo_dir())
    store = open_project(str(images_dir))
    try:
        if not store.categories():
            truth = read_coco(images_dir / "annotations.json", image_root=images_dir)
            ordered = sorted(truth.images, key=lambda r: r.path)
            labelled = ordered[: len(ordered) // 2]
            subset = LabelSet(
                categories=list(truth.categories),
                images=labelled,
                boxes={r.id: truth.boxes.get(r.id, []) for r in labelled},
                root=truth.root,
            )
            store.import_labelset(subset)
            # the unlabelled half still needs the class list; import_labelset added it
            by_path = {store.image(i).path: i for i in store.image_ids()}
            for rec in labelled:
                image_id = by_path.get(rec.path)
                if image_id is not None:
                    store.set_status(image_id, ImageStatus.VERIFIED)
    finally:
        store.close()
    return images_dir
