"""`rnxstudio eval PROJECT_OR_COCO --model CKPT [--split val] [--out metrics.json]`: COCO metrics
(pycocotools), per-class AP and TP/FP/FN of a checkpoint on a project's labels or a COCO file.

The "val" split is the trainer's split: the same deterministic function with the fraction and
seed recorded in the checkpoint's recipe (or --val-split/--split-seed).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a project (.rnxproj, image folder or video) or a COCO JSON file")
    parser.add_argument("--model", required=True, help="checkpoint file (or zoo name, for a baseline)")
    parser.add_argument("--images", help="image root for a COCO file (default: its folder)")
    parser.add_argument("--split", choices=("val", "train", "all"), default="val")
    parser.add_argument("--val-split", type=float, help="validation fraction (default: the checkpoint's recipe, else 0.2)")
    parser.add_argument("--split-seed", type=int, help="split seed (default: the checkpoint's recipe, else 0)")
    parser.add_argument("--verified-only", action="store_true", help="project: only verified images")
    parser.add_argument("--score", type=float, default=0.5, help="score threshold for TP/FP/FN and the confusion matrix")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--out", help="write the full result (metrics, per-class, PR curves, confusion) as JSON")


def _load_data(args: argparse.Namespace):
    from pathlib import Path

    from rnxstudio.commands import CliError
    from rnxstudio.ml.train_data import DataError, from_labelset, load_coco

    src = Path(args.source)
    if src.suffix.lower() == ".json":
        try:
            return load_coco(src, args.images)
        except DataError as exc:
            raise CliError(str(exc)) from exc
    from rnxstudio.data.project import open_project

    try:
        store = open_project(src, sync=False)
    except Exception as exc:  # noqa: BLE001 - ProjectError and OS errors, reported in one line
        raise CliError(f"{src}: cannot open project ({exc})") from exc
    try:
        ls = store.to_labelset(verified_only=args.verified_only)
    finally:
        close = getattr(store, "close", None)
        if close:
            close()
    return from_labelset(ls)


def run(args: argparse.Namespace) -> int:
    import json
    import os

    import numpy as np

    from rnxstudio.commands import CliError
    from rnxstudio.data.atomic import atomic_write_text
    from rnxstudio.ml.evaluate import evaluate
    from rnxstudio.ml.predict import Predictor
    from rnxstudio.ml.train_data import split_train_val
    from rnxstudio.ml.train_state import val_ground_truth

    data = _load_data(args)
    if not data.samples:
        raise CliError(f"{args.source}: no labelled images")
    recipe: dict = {}
    if os.path.isfile(args.model):
        from rnxstudio.ml.checkpoint import CheckpointError, load_checkpoint, read_sidecar

        try:
            built = load_checkpoint(args.model)
            recipe = (read_sidecar(args.model) or {}).get("recipe") or {}
        except CheckpointError as exc:
            raise CliError(str(exc)) from exc
    else:
        from rnxstudio.ml.zoo import build_model

        try:
            built = build_model(args.model, num_classes=len(data.class_names), class_names=data.class_names)
        except (KeyError, ValueError) as exc:
            raise CliError(str(exc.args[0] if exc.args else exc)) from exc
        for w in built.warnings:
            print(f"warning: {w}")
    val_split = args.val_split if args.val_split is not None else float(recipe.get("val_split", 0.2))
    seed = args.split_seed if args.split_seed is not None else int(recipe.get("split_seed", 0))
    train_idx, val_idx = split_train_val(data.samples, val_split, seed)
    idx = {"val": val_idx, "train": train_idx, "all": list(range(len(data.samples)))}[args.split]
    if not idx:
        raise CliError(f"the {args.split} split is empty ({len(data.samples)} images, val fraction {val_split:g})")
    # model label -> data category id, by class name; classes the data lacks are not scored
    cat_of_name = dict(zip(data.class_names, data.category_ids))
    label_to_cat = {i + 1: cat_of_name.get(n) for i, n in enumerate(built.class_names)}
    unknown = [n for n in built.class_names if n not in cat_of_name]
    if unknown:
        print(f"note: model classes not in the labels are ignored: {', '.join(unknown)}")
    predictor = Predictor(built, device=args.device)
    dets = {}
    from rnxstudio.data.images import load

    for k in range(0, len(idx), max(1, args.batch)):
        chunk = idx[k:k + args.batch]
        try:
            outs = predictor.predict([load(data.samples[i].path) for i in chunk])
        except Exception as exc:  # noqa: BLE001 - ImageLoadError names the file
            raise CliError(str(exc)) from exc
        for i, d in zip(chunk, outs):
            keep = [j for j, lab in enumerate(d.labels.tolist()) if label_to_cat.get(int(lab)) is not None]
            dets[data.samples[i].image_id] = {
                "boxes": np.asarray(d.boxes)[keep].reshape(-1, 4),
                "scores": np.asarray(d.scores)[keep],
                "labels": np.asarray([label_to_cat[int(lab)] for lab in np.asarray(d.labels)[keep]], dtype=np.int64),
            }
    result = evaluate(val_ground_truth(data, idx), dets, score_thresh=args.score)
    print(f"{args.model} on {args.source} ({args.split} split, {len(idx)} images)")
    print(result.format_table())
    if args.out:
        atomic_write_text(args.out, json.dumps(result.to_dict(), indent=1))
        print(f"wrote {args.out}")
    return 0
