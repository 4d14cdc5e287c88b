"""`rnxstudio arch MODEL`: architecture table (stages, widths, output sizes, params, counted FLOPs).

Examples::

    rnxstudio arch resnext50_32x4d_fpn --compare resnet50_fpn
    rnxstudio arch resnext50_32x4d_c4 --input 600x800 --format markdown
    rnxstudio arch resnext50_32x4d --trunk --compare resnet50      # the paper's 224x224 figures

Models are built on the meta device (shapes only, no weights, no download), so any model and any
input size prints in about a second.
"""

from __future__ import annotations

import argparse
import re

from rnxstudio.commands import CliError

FORMATS = ("table", "csv", "markdown", "json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="zoo model name (e.g. resnext50_32x4d_fpn) or a checkpoint .safetensors; with --trunk also a "
                                      "torchvision classifier name (resnet50, resnext50_32x4d, ...)")
    parser.add_argument("--input", default=None, metavar="HxW",
                        help="input image size as HEIGHTxWIDTH or one number for a square "
                             "(default 800x1067 for detectors, 224 with --trunk)")
    parser.add_argument("--compare", metavar="MODEL2", help="second model: print a side-by-side table")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--trunk", action="store_true",
                        help="classifier trunk only (stem, res2-res5, fc) as in the ResNeXt paper")
    parser.add_argument("--num-classes", type=int, default=90,
                        help="foreground classes of the box predictor (default 90, COCO-sized)")
    parser.add_argument("--min-size", type=int, default=None, help="override the model's resize short side")
    parser.add_argument("--max-size", type=int, default=None, help="override the model's resize long-side cap")
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE (atomically) instead of stdout")


def parse_size(text: str) -> tuple[int, int]:
    """'800x1067' -> (800, 1067); '224' -> (224, 224). Raises CliError on anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX*,]\s*(\d+))?\s*", text)
    if not m:
        raise CliError(f"--input {text!r}: expected HEIGHTxWIDTH like 800x1067, or one number")
    h = int(m.group(1))
    w = int(m.group(2)) if m.group(2) else h
    if not (16 <= h <= 8192 and 16 <= w <= 8192):
        raise CliError(f"--input {text!r}: each side must be between 16 and 8192 pixels")
    return h, w


def _trunk_arch(name: str) -> str:
    from rnxstudio.ml.introspect.archtable import TRUNK_ARCHS
    from rnxstudio.ml.zoo import MODELS

    if name in MODELS:
        spec = MODELS[name]
        if spec.arch == "tiny":
            raise CliError(f"{name}: the tiny ResNeXt has no torchvision classifier trunk; drop --trunk")
        return spec.arch
    import torchvision.models as tvm

    if callable(getattr(tvm, name, None)) and (name.startswith("resnet") or name.startswith("resnext")):
        return name
    raise CliError(f"unknown trunk {name!r}; use a zoo model or one of {', '.join(TRUNK_ARCHS)}")


def _table(name: str, args: argparse.Namespace, size: tuple[int, int]):
    from rnxstudio.ml.introspect.archtable import arch_table, trunk_table

    if args.trunk:
        return trunk_table(_trunk_arch(name), size)
    import torch

    from rnxstudio.ml.zoo import MODELS, build_model

    if name not in MODELS and name.endswith((".safetensors", ".json")):
        return _checkpoint_table(name, args, size)
    if name not in MODELS:
        raise CliError(f"unknown model {name!r}; choose one of {', '.join(MODELS)} (or a checkpoint .safetensors)")
    if args.num_classes < 1:
        raise CliError(f"--num-classes must be >= 1, got {args.num_classes}")
    try:
        with torch.device("meta"):
            built = build_model(name, num_classes=args.num_classes, pretrained_backbone=False,
                                min_size=args.min_size, max_size=args.max_size, allow_download=False)
    except ValueError as exc:
        raise CliError(f"{name}: {exc}") from exc
    return arch_table(built, size, name=name)


def _checkpoint_table(path: str, args: argparse.Namespace, size: tuple[int, int]):
    """The architecture a checkpoint's sidecar describes (e.g. a converted COCO model), on meta."""
    import torch

    from rnxstudio.ml.checkpoint import CheckpointError, read_sidecar
    from rnxstudio.ml.introspect.archtable import arch_table
    from rnxstudio.ml.zoo import build_model, rebuild_kwargs

    try:
        meta = read_sidecar(path)
    except CheckpointError as exc:
        raise CliError(str(exc)) from exc
    if meta is None:
        raise CliError(f"{path}: no .json sidecar beside it, so its architecture is unknown")
    kw = rebuild_kwargs({**(meta.get("build_kwargs") or {}), "name": meta["model"]})
    kw.update(allow_download=False, **{k: getattr(args, k) for k in ("min_size", "max_size") if getattr(args, k)})
    try:
        with torch.device("meta"):
            built = build_model(kw.pop("name"), **kw)
    except (KeyError, ValueError, TypeError) as exc:
        raise CliError(f"{path}: cannot rebuild its architecture ({exc})") from exc
    return arch_table(built, size, name=meta.get("title") or meta["model"])


def run(args: argparse.Namespace) -> int:
    from rnxstudio.ml.introspect import archformat as af

    size = parse_size(args.input) if args.input else ((224, 224) if args.trunk else (800, 1067))
    table = _table(args.model, args, size)
    if args.compare:
        grid = af.compare(table, _table(args.compare, args, size))
    elif args.format == "json":
        text = af.table_json(table)
        grid = None
    else:
        grid = af.table_grid(table)
    if grid is not None:
        text = af.render(grid, args.format)
    if args.output:
        from rnxstudio.data.atomic import atomic_write_text

        try:
            atomic_write_text(args.output, text)
        except OSError as exc:
            raise CliError(f"{args.output}: cannot write ({exc.strerror or exc})") from exc
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0
