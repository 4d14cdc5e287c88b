"""The demo project: the synthetic shapes folder, opened as a project, with the ground truth
of the first half of the images imported as verified labels (ready to fine-tune on) and the
second half left unlabeled (ready to pre-label and correct).

The project records the model it is meant to be used with (``preferred_model`` in its meta:
the shipped ``demo`` detector) and the class that detector has never seen (``new_class``), so
the app can select the model on open and say what a fine-tune will teach it.
"""

from __future__ import annotations

from pathlib import Path

from rnxstudio.core.model import ImageStatus, LabelSet
from rnxstudio.core.paths import demo_dir
from rnxstudio.data.demo import DEMO_VERSION, NEW_CLASS, ensure_demo

PREFERRED_MODEL_KEY = "preferred_model"  # project meta: zoo name or checkpoint to pre-label and fine-tune from
NEW_CLASS_KEY = "new_class"  # project meta (demo only): the class the preferred model does not know
DEMO_MODEL = "demo"  # the zoo entry with the shipped weights (ml/zoo.py, resources/models/)


def demo_root() -> Path:
    """The demo's folder. Each demo version has its own, so an older demo project (and anything
    the user did in it) stays as it was."""
    return demo_dir() / f"v{DEMO_VERSION}"


def prepare_demo_project(root: str | Path | None = None) -> Path:
    """Create the demo data and its project if needed; return the folder to open."""
    from rnxstudio.data.coco import read_coco
    from rnxstudio.data.project import open_project

    images_dir = ensure_demo(Path(root) if root is not None else demo_root())
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
            store.set_meta(PREFERRED_MODEL_KEY, DEMO_MODEL)
            store.set_meta(NEW_CLASS_KEY, NEW_CLASS)
            store.set_meta("demo_version", str(DEMO_VERSION))
    finally:
        store.close()
    return images_dir


def preferred_model(store) -> str | None:
    """The model a project asks to be opened with (the demo: ``demo``), or None."""
    return store.meta(PREFERRED_MODEL_KEY)
