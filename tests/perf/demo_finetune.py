"""The demo's fine-tune, as the app runs it, without the GUI (not a test; tests/unit/test_demo_finetune.py
runs it as one, marked slow).

    python3 tests/perf/demo_finetune.py [--home DIR] [--json out.json] [--set KEY=VALUE ...]

On a fresh RNXSTUDIO_HOME (a temporary one unless --home): open the demo project, take its
preferred model (``demo``) as the base, snapshot the verified images, build the TrainConfig
with the fine-tune dialog's default options (``ui.training.options.recommended_options`` for
that base, as ``TrainingController.default_options`` asks for it: the base's recipe,
``ml.train_config.starts_trained``), train, and measure before/after on the
run's validation split the way the app's results dialog does, plus both models on the
project's unverified half against the generator's ground truth (how good the pre-labels are).
Prints the before/after table and the minutes each part took.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def run(home: Path, overrides: dict | None = None, log=print) -> dict:
    os.environ["RNXSTUDIO_HOME"] = str(home)
    from rnxstudio.core.model import ImageStatus
    from rnxstudio.data.demo_project import prepare_demo_project, preferred_model
    from rnxstudio.data.project import open_project
    from rnxstudio.data.snapshot import write_snapshot
    from rnxstudio.ml.compare import comparison_table, evaluate_on_split
    from rnxstudio.ml.train import finetune
    from rnxstudio.ml.train_config import starts_trained
    from rnxstudio.ui.training.options import recommended_options

    t0 = time.monotonic()
    images = prepare_demo_project()
    store = open_project(images)
    try:
        base = preferred_model(store)
        snap = write_snapshot(store, home / "run", selection="verified")
        unverified = {Path(store.absolute_path(r)).name for r in store.images(store.image_ids(status=ImageStatus.UNLABELED))}
    finally:
        store.close()
    # what the dialog will offer on the demo project: the base's recipe, the default options
    opts = recommended_options("cpu", base=base)
    assert opts.pretrained_backbone == starts_trained(base)
    opts.extra.update(overrides or {})
    cfg = opts.to_config(out_dir=home / "run" / "checkpoints", coco=snap.coco, images=snap.image_root)
    log(f"base {base}; {snap.summary()}; epochs {cfg.epochs}, batch {cfg.batch_size}, size {cfg.size}, "
        f"trainable {cfg.trainable_layers}, lr/16 {cfg.lr_per_16}, ema {cfg.ema_horizon}")
    t_train = time.monotonic()
    final = None
    for p in finetune(cfg):
        if p.kind in ("start", "checkpoint", "done"):
            log(f"  {p.message}")
        final = p.checkpoint or final
    train_min = (time.monotonic() - t_train) / 60
    # the results dialog: the base and the new model on the run's validation split
    t_eval = time.monotonic()
    kw = dict(split="val", val_split=cfg.val_split, split_seed=cfg.split_seed, device=cfg.device,
              score_thresh=cfg.eval_score_thresh, pretrained_backbone=cfg.pretrained_backbone, size=cfg.size,
              max_size=cfg.max_size)
    before = evaluate_on_split(base, snap.coco, snap.image_root, **kw)
    after = evaluate_on_split(final, snap.coco, snap.image_root, **kw)
    eval_min = (time.monotonic() - t_eval) / 60
    header, rows = comparison_table({f"base ({base})": before, "new": after})
    # pre-labels on the half nobody labelled, against the generator's ground truth
    truth = json.loads((images / "annotations.json").read_text())
    keep = {im["id"] for im in truth["images"] if im["file_name"] in unverified}
    truth["images"] = [im for im in truth["images"] if im["id"] in keep]
    truth["annotations"] = [a for a in truth["annotations"] if a["image_id"] in keep]
    rest = home / "unverified.json"
    rest.write_text(json.dumps(truth))
    pre_kw = dict(kw, split="all")
    pre_before = evaluate_on_split(base, rest, images, **pre_kw)
    pre_after = evaluate_on_split(final, rest, images, **pre_kw)
    pre_header, pre_rows = comparison_table({f"base ({base})": pre_before, "new": pre_after})
    total_min = (time.monotonic() - t0) / 60
    log(f"\nvalidation split ({after.num_images} images, {after.num_gt} boxes): train {train_min:.2f} min, "
        f"before/after {eval_min:.2f} min")
    for r in [header] + rows:
        log("  " + " | ".join(f"{c:>14}" for c in r))
    log(f"\npre-labels on the {pre_after.num_images} unverified images ({pre_after.num_gt} boxes):")
    for r in [pre_header] + pre_rows:
        log("  " + " | ".join(f"{c:>14}" for c in r))
    log(f"\ntotal {total_min:.2f} min (demo set-up, training, both evaluations)")
    return {"base": base, "train_minutes": train_min, "eval_minutes": eval_min, "total_minutes": total_min,
            "val": {"header": header, "rows": rows}, "unverified": {"header": pre_header, "rows": pre_rows},
            "recipe": cfg.recipe(), "before": before.metrics, "after": after.metrics,
            "new_class_AP": {"before": _class_ap(before, "cross"), "after": _class_ap(after, "cross")}}


def _class_ap(res, name: str):
    return next((c.AP for c in res.per_class if c.name == name), None)


def main() -> int:
    from rnxstudio.ml.train_config import parse_overrides

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", help="RNXSTUDIO_HOME to use (default: a fresh temporary one)")
    ap.add_argument("--json")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a TrainConfig field (experiments; the app's defaults otherwise)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rnx-demo-ft-") as tmp:
        out = run(Path(args.home) if args.home else Path(tmp), parse_overrides(args.set),
                  log=lambda m: print(m, flush=True))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
