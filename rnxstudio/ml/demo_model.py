"""The demo detector that ships with the app (zoo entry ``demo``), and the script that makes it.

    python -m rnxstudio.ml.demo_model --out resources/models [--steps 2400] [--threads 2]

Trains the shapes benchmark's recipe (:data:`RECIPE`: ``cpu_defaults()`` of 2026-12-02, random
init) on scenes from the demo generator with a fixed data seed and a fixed training seed, then
scores the result on scenes from a seed neither the training nor the demo project uses, and
writes ``demo_shapes.safetensors`` + ``demo_shapes.json``. The sidecar records the command, the
data (generator, seeds, sizes), the recipe, the training time and both sets of metrics. The
weights are stored as float16 (half the file, a few MB; they load as float32, and the test
metrics in the sidecar are measured on the stored weights).

Reproducible: the same command on the same torch version, CPU type and thread count gives the
same weights; other machines give a model of the same quality, not the same bits.
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# the data the shipped model sees; all differ from the demo project's seed (data.demo.DEMO_SEED),
# the shapes benchmark's (2026) and each other
TRAIN_DATA_SEED = 20261201
TEST_DATA_SEED = 20261202
TRAIN_IMAGES, VAL_IMAGES, TEST_IMAGES = 800, 80, 200
IMAGE_SIZE = 256
STEPS = 2400
TRAIN_SEED = 0
FILE_STEM = "demo_shapes"
# the shapes benchmark's recipe (train_config.cpu_defaults(pretrained=False)) as it was when the
# shipped file was made: pinned, so a later change to the app's defaults does not change what
# this command makes (the sidecar records the full TrainConfig either way)
RECIPE: dict[str, Any] = dict(
    model="resnext_tiny_fpn", size=256, max_size=416, roi_batch_per_image=128, rpn_pre_nms_train=1000,
    rpn_post_nms_train=300, batch_size=4, optimizer="adamw", lr_per_16=0.008, schedule="cosine",
    trainable_layers=5, scale_jitter=True,
)


def default_out_dir() -> Path:
    from rnxstudio.core.paths import resources_dir

    return resources_dir() / "models"


def make_data(root: Path, *, train_images: int = TRAIN_IMAGES, val_images: int = VAL_IMAGES,
              test_images: int = TEST_IMAGES, size: int = IMAGE_SIZE) -> tuple[Path, Path]:
    """(train+val COCO file, test COCO file), generated under ``root``."""
    from rnxstudio.data.demo import make_shapes_dataset

    make_shapes_dataset(train_images + val_images, size, seed=TRAIN_DATA_SEED, out_dir=root / "train")
    make_shapes_dataset(test_images, size, seed=TEST_DATA_SEED, out_dir=root / "test")
    return root / "train" / "annotations.json", root / "test" / "annotations.json"


def train_config(out_dir: Path, coco: Path, *, steps: int, val_fraction: float, seed: int = TRAIN_SEED,
                 overrides: dict[str, Any] | None = None):
    from rnxstudio.ml.train_config import TrainConfig

    kw = {**RECIPE, **(overrides or {})}
    return TrainConfig(out_dir=out_dir, coco=coco, pretrained_backbone=False, max_steps=steps, val_split=val_fraction,
                       eval_every=4, seed=seed, device="cpu", name=FILE_STEM, **kw)


def score(checkpoint: Path, coco: Path) -> dict[str, Any]:
    """COCO metrics of ``checkpoint`` on every image of ``coco`` (plus per-class AP)."""
    from rnxstudio.ml.compare import evaluate_on_split

    res = evaluate_on_split(checkpoint, coco, split="all", device="cpu")
    return {"metrics": res.metrics, "per_class_AP": {c.name: c.AP for c in res.per_class},
            "images": res.num_images, "boxes": res.num_gt}


def save_half(src: Path, dst: Path, *, extra: dict[str, Any]) -> Path:
    """Re-save checkpoint ``src`` at ``dst`` with float16 weights and ``extra`` in its sidecar."""
    import torch

    from rnxstudio.ml.checkpoint import load_checkpoint, read_sidecar, save_checkpoint

    built = load_checkpoint(src)
    meta = read_sidecar(src) or {}
    half = copy.deepcopy(built)
    half.model = half.model.to(torch.float16)
    return save_checkpoint(dst, half, recipe=meta.get("recipe"), metrics=meta.get("metrics"), parent=None,
                           category_ids=built.category_ids, extra={**meta.get("extra", {}), **extra})


def _add_to_sidecar(path: Path, **fields: Any) -> None:
    from rnxstudio.data.atomic import atomic_write_text
    from rnxstudio.ml.checkpoint import sidecar_path

    sp = sidecar_path(path)
    meta = json.loads(sp.read_text(encoding="utf-8"))
    meta["extra"].update(fields)
    atomic_write_text(sp, json.dumps(meta, indent=2, default=str) + "\n")


def build(out_dir: Path, *, steps: int = STEPS, train_images: int = TRAIN_IMAGES, val_images: int = VAL_IMAGES,
          test_images: int = TEST_IMAGES, seed: int = TRAIN_SEED, overrides: dict[str, Any] | None = None,
          command: str = "", log=print) -> Path:
    """Train, score and write the demo checkpoint into ``out_dir``; returns its path."""
    import torch

    from rnxstudio.ml.train import finetune

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rnx-demo-model-") as tmp:
        coco, test_coco = make_data(Path(tmp), train_images=train_images, val_images=val_images,
                                    test_images=test_images)
        cfg = train_config(Path(tmp) / "run", coco, steps=steps, val_fraction=val_images / (train_images + val_images),
                           seed=seed, overrides=overrides)
        t0 = time.monotonic()
        last = None
        for p in finetune(cfg):
            if p.kind in ("start", "checkpoint", "done") and p.message:
                log(f"step {p.step}: {p.message}")
            elif p.kind == "step" and p.step % 200 == 0:
                log(f"step {p.step}/{p.total_steps} loss {p.loss:.3f} lr {p.lr:.2e}")
            if p.kind == "checkpoint" and p.checkpoint:
                last = Path(p.checkpoint)  # the last weights, not the best-on-val pick: what the recipe gives
        minutes = (time.monotonic() - t0) / 60
        data = {"generator": "rnxstudio.data.demo.make_shapes_dataset", "classes": "data.demo.CLASSES",
                "image_size": IMAGE_SIZE, "train_val_seed": TRAIN_DATA_SEED, "train_images": train_images,
                "val_images": val_images, "test_seed": TEST_DATA_SEED, "test_images": test_images}
        dst = out_dir / f"{FILE_STEM}.safetensors"
        assert last is not None, "the run wrote no checkpoint"
        save_half(last, dst, extra={"command": command, "data": data, "train_minutes": round(minutes, 2),
                                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                                    "weights_dtype": "float16", "trained_on": "synthetic shapes"})
        test = score(dst, test_coco)
        full = score(last, test_coco)["metrics"]  # the float32 weights, to show that storing float16 costs nothing
        _add_to_sidecar(dst, test=test, test_float32={k: full[k] for k in ("AP", "AP50", "AP75")})
        log(f"wrote {dst} ({dst.stat().st_size / 1e6:.1f} MB) after {minutes:.1f} min; "
            f"test (seed {TEST_DATA_SEED}, {test_images} scenes): AP {test['metrics']['AP']:.3f} "
            f"AP50 {test['metrics']['AP50']:.3f}")
    return dst


def main(argv: list[str] | None = None) -> int:
    from rnxstudio.ml.train_config import parse_overrides

    parser = argparse.ArgumentParser(prog="python -m rnxstudio.ml.demo_model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="folder for demo_shapes.safetensors/.json (default: resources/models)")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--train-images", type=int, default=TRAIN_IMAGES)
    parser.add_argument("--val-images", type=int, default=VAL_IMAGES)
    parser.add_argument("--test-images", type=int, default=TEST_IMAGES)
    parser.add_argument("--seed", type=int, default=TRAIN_SEED, help="training seed (init, sampling, augmentation)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the result depends on it bit-wise)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a TrainConfig field")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    command = "python -m rnxstudio.ml.demo_model " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    build(Path(args.out) if args.out else default_out_dir(), steps=args.steps, train_images=args.train_images,
          val_images=args.val_images, test_images=args.test_images, seed=args.seed,
          overrides=parse_overrides(args.set), command=command.strip(), log=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
