"""`rnxstudio predict SOURCE --model NAME_OR_CKPT --out preds.json`: detections as COCO results.

SOURCE is an image, a folder of images or a video. Image ids come from ``--coco GT.json`` when
given (matched by file name, or by frame index for a video); otherwise images are numbered 1..N
in natural file order and video frames get ``frame_index + 1``.
"""

from __future__ import annotations

import argparse
import os
import sys

from rnxstudio.commands import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="an image, a folder of images, or a video file")
    parser.add_argument("--model", default="resnext50_32x4d_fpn",
                        help="zoo model name or checkpoint file (.safetensors / .pth / .pt)")
    parser.add_argument("--out", required=True, help="COCO results JSON to write")
    parser.add_argument("--score", type=float, default=None,
                        help="minimum score to keep (default: the model's, 0.05)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--batch", type=int, default=None, help="images per forward pass (default: 1 on a CPU, 8 on CUDA)")
    parser.add_argument("--coco", metavar="GT.json", help="COCO file of the same images: take image "
                        "and category ids from it (so pycocotools loadRes accepts the output)")
    parser.add_argument("--classes", help="comma-separated class names for a zoo model or bare weights")
    parser.add_argument("--arch", metavar="NAME",
                        help="zoo model name for a weights file without its .json sidecar "
                        "(e.g. a torchvision state dict saved with torch.save)")
    parser.add_argument("--backbone-weights", metavar="FILE",
                        help="ImageNet ResNet/ResNeXt state dict for a zoo model's backbone")
    parser.add_argument("--coco-weights", action="store_true",
                        help="resnet50_fpn: torchvision's COCO-trained detector (when cached or downloadable)")
    parser.add_argument("--min-size", type=int, help="resize the shorter side to this (zoo models)")
    parser.add_argument("--max-size", type=int, help="cap the longer side at this (zoo models)")
    parser.add_argument("--amp", choices=("auto", "fp16", "bf16", "off"), default="auto",
                        help="mixed precision (auto: fp16 on CUDA, off elsewhere)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                        help="inference precision (auto: bf16 where the CPU has it natively, fp16 on CUDA, else fp32)")
    parser.add_argument("--backend", choices=("auto", "torch", "openvino"), default="auto",
                        help='backbone runtime on the CPU (openvino needs pip install -e ".[openvino]")')
    parser.add_argument("--every", type=int, default=1, help="video: every N-th frame")
    parser.add_argument("--recursive", action="store_true", help="folder: include sub-folders")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _sources(args: argparse.Namespace) -> tuple[list, bool]:
    """(sources, is_video) for the SOURCE argument."""
    from pathlib import Path

    from rnxstudio.data.scan import is_video, scan_folder

    src = Path(args.source)
    if not src.exists():
        raise CliError(f"{src}: not found")
    if src.is_dir():
        try:
            names = scan_folder(src, recursive=args.recursive)
        except OSError as exc:
            raise CliError(str(exc)) from exc
        if not names:
            raise CliError(f"{src}: no images in this folder")
        return [src / n for n in names], False
    if is_video(src):
        if args.every < 1:
            raise CliError("--every must be >= 1")
        try:
            from rnxstudio.data.video import VideoReader

            reader = VideoReader(src)
            count = int(reader.frame_count)
            close = getattr(reader, "close", None)
            if callable(close):
                close()
        except ImportError as exc:
            raise CliError(f"{src}: video support is not available ({exc})") from exc
        except Exception as exc:  # noqa: BLE001 - any reader failure is a user-facing error here
            raise CliError(f"{src}: cannot open video ({exc})") from exc
        return [(str(src), i) for i in range(0, count, args.every)], True
    return [src], False


def _load_model(args: argparse.Namespace):
    from rnxstudio.ml.resolve import ModelRefError, resolve

    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    try:
        return resolve(args.model, class_names=classes, arch=args.arch, backbone_weights=args.backbone_weights,
                       coco_weights=args.coco_weights, min_size=args.min_size, max_size=args.max_size)
    except ModelRefError as exc:
        raise CliError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    if args.batch is not None and args.batch < 1:
        raise CliError("--batch must be >= 1")
    from rnxstudio.ml.resolve import MODELS, is_model_ref

    if not is_model_ref(args.model):  # fail fast, before scanning or loading anything
        raise CliError(f"--model {args.model!r} is neither a zoo model ({', '.join(MODELS)}) nor a file")
    sources, video = _sources(args)
    from tqdm import tqdm

    from rnxstudio.ml.coco_results import (
        CocoResultsError,
        category_id_map,
        detections_to_results,
        read_ground_truth_ids,
        write_results,
    )
    from rnxstudio.ml.devices import DeviceError, device_label
    from rnxstudio.ml.predict import Predictor, run_inference

    gt = None
    if args.coco:
        try:
            gt = read_ground_truth_ids(args.coco)
        except CocoResultsError as exc:
            raise CliError(str(exc)) from exc
    built = _load_model(args)
    for w in built.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if built.is_random:
        print(f"warning: {built.spec.name} has RANDOM weights (no pretrained backbone, no checkpoint): "
              "its boxes are meaningless. Pass a trained checkpoint with --model FILE.", file=sys.stderr)
    cat_ids, cat_warnings = category_id_map(built.class_names, checkpoint_ids=built.category_ids, gt=gt)
    for w in cat_warnings:
        print(f"warning: {w}", file=sys.stderr)
    try:
        predictor = Predictor(built, device=args.device, score_thresh=args.score,
                              amp=None if args.amp == "auto" else (False if args.amp == "off" else args.amp),
                              precision=args.precision, backend=args.backend)
    except (DeviceError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    for w in predictor.choice.warnings if predictor.choice else []:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{built.spec.name} on {device_label(predictor.device)}, {predictor.describe()}: {len(sources)} "
          f"{'frames' if video else 'images'}", file=sys.stderr)
    print(f"{built.spec.title}: {len(built.class_names)} classes: {', '.join(built.class_names)}", file=sys.stderr)

    records, errors, unmatched = [], 0, 0
    bar = tqdm(total=len(sources), unit="img", file=sys.stderr, disable=args.no_progress, dynamic_ncols=True)
    try:
        for pos, item in enumerate(run_inference(sources, predictor, batch_size=args.batch)):
            bar.update(1)
            if not item.ok:
                errors += 1
                tqdm.write(f"error: {item.error}", file=sys.stderr)
                continue
            if video:
                frame = item.source[1]
                image_id = (gt.frame_ids.get(frame) if gt else frame + 1)
            else:
                image_id = gt.image_id(os.fspath(item.source)) if gt else pos + 1
            if image_id is None:
                unmatched += 1
                tqdm.write(f"warning: {item.source} is not in {args.coco}; skipped", file=sys.stderr)
                continue
            records.extend(detections_to_results(item.detections, image_id, cat_ids))
    finally:
        bar.close()
    n = write_results(args.out, records)
    _write_provenance(args, built, predictor, len(sources) - errors, bar)
    print(f"wrote {n} detections for {len(sources) - errors - unmatched} images to {args.out}"
          + (f" ({errors} unreadable)" if errors else "") + (f" ({unmatched} not in --coco)" if unmatched else ""),
          file=sys.stderr)
    return 1 if errors and errors == len(sources) else 0


def _write_provenance(args: argparse.Namespace, built, predictor, images: int, bar) -> None:
    """``<out stem>.run.json`` beside the results (which must stay a bare COCO list): the model
    and how it was computed (inference path, precision, device), so a run can be reproduced."""
    import datetime
    import json
    from pathlib import Path

    from rnxstudio.data.atomic import atomic_write_text

    elapsed = bar.format_dict.get("elapsed") or 0.0
    record = {
        "model": built.spec.name, "weights": built.weights_origin,
        "weights_sha256": (built.info or {}).get("weights_sha256"), "classes": built.class_names,
        **predictor.run_record(), "precision_asked": args.precision, "backend_asked": args.backend,
        "images": images, "images_per_s": round(images / elapsed, 3) if elapsed else None,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    out = Path(args.out)
    atomic_write_text(out.with_name(out.stem + ".run.json"), json.dumps(record, indent=1, default=str) + "\n")
