"""The accuracy guard: a fast inference path must detect what eager fp32 detects.

On a model trained until it detects and a held-out set of generated scenes (>= 200 for the
benchmark), each fast path passes when

* its COCO AP is within ``max_dap`` (0.5) AP points of eager fp32's, and
* at least ``min_matched`` (99 %) of eager's confident boxes (score >= ``score``, 0.5, the app's
  default display threshold) have a box of the same class at IoU >= ``iou`` (0.9) among the fast
  path's detections (one-to-one, greedy by eager score; the fast box's score is not thresholded,
  so an eager 0.51 matched by a fast 0.49 still counts as the same detection).

The guard model is the shipped ``demo`` detector when this installation has it; otherwise a
shapes model trained once by :func:`train_fallback` (the shapes benchmark recipe for a few
minutes) and cached under the user data folder. :func:`guard_model` says which one it used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

GUARD_DATA_SEED = 20261218  # used by no training set (demo: 2026120x, shapes benchmark: 2026)
MAX_DAP, MIN_MATCHED, MATCH_IOU, MATCH_SCORE = 0.5, 0.99, 0.9, 0.5


@dataclass(frozen=True)
class GuardResult:
    """One fast path against eager fp32 on the guard set."""

    ap_eager: float  # COCO AP, points (0-100)
    ap_fast: float
    matched: float  # fraction of eager's confident boxes matched
    eager_boxes: int
    images: int
    max_dap: float = MAX_DAP
    min_matched: float = MIN_MATCHED

    @property
    def d_ap(self) -> float:
        return self.ap_fast - self.ap_eager

    @property
    def passed(self) -> bool:
        return abs(self.d_ap) <= self.max_dap and self.matched >= self.min_matched and self.eager_boxes > 0

    def line(self) -> str:
        """``dAP=+0.02, matched=99.8%, pass`` (the form the benchmark's last line uses)."""
        return f"dAP={self.d_ap:+.2f}, matched={100 * self.matched:.1f}%, {'pass' if self.passed else 'fail'}"


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from rnxstudio.ml.evaluate import box_iou

    return box_iou(a.astype(np.float64), b.astype(np.float64))


def match_fraction(eager: Mapping[int, Any], fast: Mapping[int, Any], *, score: float = MATCH_SCORE,
                   iou: float = MATCH_IOU) -> tuple[float, int]:
    """(fraction of eager's boxes scoring >= ``score`` matched in ``fast``, how many there were)."""
    total = matched = 0
    for img_id, de in eager.items():
        keep = de.scores >= score
        boxes, labels, scores = de.boxes[keep], de.labels[keep], de.scores[keep]
        total += len(boxes)
        df = fast.get(img_id)
        if df is None or len(df) == 0 or len(boxes) == 0:
            continue
        ious = _iou(boxes, df.boxes)
        ious[labels[:, None] != df.labels[None, :]] = 0.0
        free = np.ones(len(df), dtype=bool)
        for i in np.argsort(-scores, kind="stable"):
            cand = np.where(free, ious[i], 0.0)
            j = int(np.argmax(cand))
            if cand[j] >= iou:
                free[j] = False
                matched += 1
    return (matched / total if total else 0.0), total


def coco_ap(gt: dict, dets: Mapping[int, Any], cat_ids: Sequence[int]) -> float:
    """COCO AP (points) of ``dets`` (model labels 1..K -> ``cat_ids``) against ``gt``."""
    from rnxstudio.ml.evaluate import evaluate

    mapped = {}
    for img_id, d in dets.items():
        mapped[img_id] = type(d)(d.boxes, d.scores, np.array([cat_ids[int(x) - 1] for x in d.labels], np.int64),
                                 d.class_names, d.image_size)
    return 100.0 * float(evaluate(gt, mapped).metrics.get("AP") or 0.0)


def compare(gt: dict, cat_ids: Sequence[int], eager: Mapping[int, Any], fast: Mapping[int, Any],
            ap_eager: float | None = None) -> GuardResult:
    """The guard verdict for ``fast`` against ``eager`` (both {image id: Detections})."""
    ap_e = coco_ap(gt, eager, cat_ids) if ap_eager is None else ap_eager
    frac, n = match_fraction(eager, fast)
    return GuardResult(ap_e, coco_ap(gt, fast, cat_ids), frac, n, len(eager))


@dataclass
class GuardSet:
    """Generated scenes with ground truth, decoded once."""

    gt: dict
    images: list[tuple[int, np.ndarray]]  # (image id, RGB)

    def category_ids_for(self, class_names: Sequence[str]) -> list[int]:
        """COCO category id per model class, by name; raises ValueError naming a missing class."""
        by_name = {c["name"]: c["id"] for c in self.gt["categories"]}
        missing = [n for n in class_names if n not in by_name]
        if missing:
            raise ValueError(f"the guard model's classes {missing} are not in the guard scenes "
                             f"({', '.join(by_name)}); use a model trained on the shapes generator")
        return [by_name[n] for n in class_names]


def make_guard_set(n: int, size: int, folder: Path, seed: int = GUARD_DATA_SEED) -> GuardSet:
    from rnxstudio.data import images
    from rnxstudio.data.demo import make_shapes_dataset

    gt = make_shapes_dataset(n, size, seed, folder)
    return GuardSet(gt, [(im["id"], images.load(folder / im["file_name"])) for im in gt["images"]])


def predict_all(predictor, guard: GuardSet) -> dict[int, Any]:
    """{image id: Detections} for every guard image, one at a time (batch 1, as pre-labelling)."""
    return {img_id: predictor.predict([rgb])[0] for img_id, rgb in guard.images}


# --------------------------------------------------------------------------- the guard model


def _demo_model():
    from rnxstudio.ml.resolve import MODELS, resolve

    if "demo" not in MODELS:
        return None
    try:
        return resolve("demo")  # the shipped trained weights, its own classes
    except (ValueError, OSError):
        return None


def fallback_dir() -> Path:
    from rnxstudio.core.paths import user_data_dir

    return user_data_dir() / "bench" / "guard-model"


def train_fallback(minutes: float, log: Callable[[str], None] = print) -> Path:
    """Train the shapes benchmark's recipe (tiny ResNeXt, random init) for ``minutes`` on 400
    generated scenes and keep the last checkpoint in :func:`fallback_dir`; returns its path."""
    import tempfile

    from rnxstudio.data.demo import make_shapes_dataset
    from rnxstudio.ml.train import TrainConfig, finetune
    from rnxstudio.ml.train_config import cpu_defaults

    out = fallback_dir()
    with tempfile.TemporaryDirectory() as tmp:
        make_shapes_dataset(440, 256, seed=2026, out_dir=Path(tmp) / "shapes")
        cfg = TrainConfig(out_dir=Path(tmp) / "run", coco=Path(tmp) / "shapes" / "annotations.json",
                          pretrained_backbone=False, minutes=minutes, val_split=40 / 440, eval_every=1000,
                          device="cpu", **cpu_defaults(pretrained=False))
        t0, last = time.monotonic(), None
        for p in finetune(cfg):
            if p.kind == "checkpoint" and p.checkpoint:
                last = p.checkpoint
            elif p.kind == "step" and p.step % 200 == 0:
                log(f"  guard model: step {p.step}/{p.total_steps}, {(time.monotonic() - t0) / 60:.1f} min")
        ckpts = sorted(Path(tmp, "run").glob("*.safetensors"), key=lambda q: q.stat().st_mtime)
        if not ckpts:
            raise RuntimeError("training the guard model wrote no checkpoint")
        out.mkdir(parents=True, exist_ok=True)
        import shutil

        from rnxstudio.ml.checkpoint import sidecar_path

        src = Path(last) if last else ckpts[-1]
        shutil.copy2(src, out / "guard.safetensors")
        shutil.copy2(sidecar_path(src), out / "guard.json")
    return out / "guard.safetensors"


def guard_model(spec: str = "auto", *, train_minutes: float = 5.0, log: Callable[[str], None] = print):
    """(BuiltModel, one line saying which model it is) for ``spec``: "auto" (the demo detector if
    shipped, else the cached fallback, else train the fallback now), "demo", or a checkpoint path."""
    from rnxstudio.ml.checkpoint import load_checkpoint

    if spec in ("auto", "demo"):
        built = _demo_model()
        if built is not None:
            return built, "demo (the shipped demo detector)"
        if spec == "demo":
            raise ValueError("this installation has no demo detector (zoo entry 'demo'); "
                             "pass --guard-model auto or a checkpoint file")
        path = fallback_dir() / "guard.safetensors"
        if not path.is_file():
            log(f"no demo detector here: training the fallback guard model for {train_minutes:g} min "
                f"(once; kept in {path.parent})")
            path = train_fallback(train_minutes, log)
        return load_checkpoint(path), f"{path} (fallback: shapes recipe, no demo detector here)"
    return load_checkpoint(spec), str(spec)
