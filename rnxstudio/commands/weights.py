"""`rnxstudio weights`: COCO-trained detectors from detectron2 and mmdetection.

    rnxstudio weights list                       # the published files the app knows, and where they go
    rnxstudio weights fetch NAME                 # download (when online), check and convert one
    rnxstudio weights import FILE --out OUT.safetensors [--format auto|detectron2|mmdet]

A converted checkpoint is an ordinary rnxstudio checkpoint: ``rnxstudio predict IMG --model
OUT.safetensors``, ``rnxstudio arch OUT.safetensors``, or open it in the app.
"""

from __future__ import annotations

import argparse
import sys

from rnxstudio.commands import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="convert a detectron2 .pkl or mmdetection .pth into a checkpoint")
    imp.add_argument("file", help="the downloaded checkpoint file")
    imp.add_argument("--format", choices=("auto", "detectron2", "mmdet"), default="auto",
                     help="source framework (auto: .pkl = detectron2, .pth = mmdet)")
    imp.add_argument("--out", required=True, help="checkpoint to write (.safetensors; a .json sidecar goes beside it)")
    imp.add_argument("--classes", help="comma-separated class names (default: the 80 COCO names for an 80-class model)")
    colour = imp.add_mutually_exclusive_group()
    colour.add_argument("--bgr", dest="bgr", action="store_true", default=None,
                        help="the network was trained on BGR input (detectron2's default; mmdetection's "
                             "X101-32x8d 3x): its first conv is swapped for RGB")
    colour.add_argument("--rgb", dest="bgr", action="store_false", help="the network was trained on RGB input")
    sub.add_parser("list", help="the published COCO-trained files the app knows and where to put them")
    fetch = sub.add_parser("fetch", help="download (when online), check and convert a published file")
    fetch.add_argument("name", help="an entry of `rnxstudio weights list`")


def _progress():
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def report(stage: str, fraction: float) -> None:
        if stage.startswith(("checking", "downloading")):
            bar = bars.get(stage) or bars.setdefault(stage, tqdm(total=100, desc=stage, file=sys.stderr,
                                                                 bar_format="{desc}: {percentage:3.0f}%|{bar}|"))
            bar.n = int(fraction * 100)
            bar.refresh()
            if fraction >= 1.0:
                bar.close()
        else:
            print(f"{stage}...", file=sys.stderr)

    return report


def _import(args: argparse.Namespace) -> int:
    from rnxstudio.ml.convert_weights import ConversionError, import_weights

    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    try:
        out = import_weights(args.file, args.out, fmt=args.format, class_names=classes, bgr=args.bgr,
                             progress=_progress())
    except ConversionError as exc:
        raise CliError(str(exc)) from exc
    _describe(out)
    return 0


def _describe(path) -> None:
    from rnxstudio.ml.checkpoint import read_sidecar

    meta = read_sidecar(path) or {}
    imported = (meta.get("extra") or {}).get("imported") or {}
    names = [c["name"] for c in meta.get("classes", [])]
    print(f"wrote {path} ({meta.get('title')}, {len(names)} classes)")
    for w in imported.get("warnings") or []:
        print(f"warning: {w}", file=sys.stderr)
    if imported.get("published_box_ap") is not None:
        print(f"published COCO box AP {imported['published_box_ap']}; licence: {imported['licence']}")


def _list() -> int:
    from rnxstudio.ml.convert import catalog

    for e in catalog.CATALOG.values():
        here = "converted" if catalog.converted_path(e).is_file() else (
            "downloaded" if catalog.local_path(e).is_file() else "not here")
        print(f"{e.name}\n  {e.title}: COCO box AP {e.box_ap}, {e.framework}, licence {e.licence}\n"
              f"  {here}; file {catalog.local_path(e)}\n  from {e.url}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from rnxstudio.ml.convert import catalog
    from rnxstudio.ml.convert_weights import ConversionError, converted_checkpoint

    try:
        out = converted_checkpoint(args.name, progress=_progress())
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from exc
    except (catalog.WeightsUnavailable, ConversionError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    _describe(out)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.weights_command == "import":
        return _import(args)
    if args.weights_command == "list":
        return _list()
    return _fetch(args)
