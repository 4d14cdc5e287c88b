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

    from rnxstudio.commands import CliError, open_session_or_fail
    from rnxstudio.ml.train_data import DataError, from_labelset, load_coco

    src = Path(args.source)
    if src.suffix.lower() == ".json":
        try:
            return load_coco(src, args.images)
        except DataError as exc:
            raise CliError(str(exc)) from exc
    with open_session_or_fail(src, sync=False) as session:
        return from_labelset(session.store.to_labelset(verified_only=args.verified_only))


def _project_class_map(args: argparse.Namespace, model_classes: list[str]) -> dict[str, int | None] | None:
    """The project's class mapping for this model (what pre-label uses), None for a COCO file
    or when the project has none (then classes match by name)."""
    from pathlib import Path

    from rnxstudio.commands import open_session_or_fail

    if Path(args.source).suffix.lower() == ".json":
        return None
    with open_session_or_fail(args.source, sync=False) as session:
        mapping = session.class_mapping(model_classes)
    return dict(mapping.targets) if mapping is not None else None


def run(args: argparse.Namespace) -> int:
    import json

    from rnxstudio.commands import CliError
    from rnxstudio.data.atomic import atomic_write_text
    from rnxstudio.ml.compare import evaluate_model, split_indices
    from rnxstudio.ml.resolve import ModelRefError, resolve
    from rnxstudio.ml.train_config import TrainingError

    data = _load_data(args)
    if not data.samples:
        raise CliError(f"{args.source}: no labelled images")
    try:
        built = resolve(args.model, class_names=data.class_names)
    except ModelRefError as exc:
        raise CliError(str(exc)) from exc
    for w in built.warnings:
        print(f"warning: {w}")
    recipe = (built.info or {}).get("recipe") or {}
    val_split = args.val_split if args.val_split is not None else float(recipe.get("val_split", 0.2))
    seed = args.split_seed if args.split_seed is not None else int(recipe.get("split_seed", 0))
    class_map = _project_class_map(args, list(built.class_names))
    if class_map is not None:
        unknown = [n for n in built.class_names if class_map.get(n) is None]
        if unknown:
            print(f"note: model classes the project's class mapping ignores: {', '.join(unknown)}")
    else:
        unknown = [n for n in built.class_names if n not in data.class_names]
        if unknown:
            print(f"note: model classes not in the labels are ignored: {', '.join(unknown)}")
    try:
        idx = split_indices(data, args.split, val_split, seed)
        result = evaluate_model(built, data, idx, device=args.device, batch=args.batch, score_thresh=args.score,
                                class_map=class_map)
    except TrainingError as exc:
        raise CliError(str(exc)) from exc
    print(f"{args.model} on {args.source} ({args.split} split, {len(idx)} images)")
    print(result.format_table())
    if args.out:
        atomic_write_text(args.out, json.dumps(result.to_dict(), indent=1))
        print(f"wrote {args.out}")
    return 0
