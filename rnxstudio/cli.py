"""The `rnxstudio` command line: the GUI launcher plus headless subcommands.

Heavy imports (torch, Qt) happen inside the handlers so ``rnxstudio --help`` stays instant.
Each headless subcommand lives in ``rnxstudio/commands/<name>.py`` with two functions:
``add_arguments(parser)`` and ``run(args) -> int``; those modules import only the standard
library at module level. Modules are imported by plain import statements (no import by name
string), so the import-linter contracts see every edge; the one from here into Qt is
``_run_gui``'s import of ``rnxstudio.ui.app``, which the contracts name.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from rnxstudio import __version__
from rnxstudio.commands import CliError

# name -> one-line help. Order is the order shown in --help. Add a line here when a
# rnxstudio/commands/<module>.py lands.
SUBCOMMANDS: dict[str, str] = {
    "gui": "open the window on PATH (project file, image folder or video)",
    "bench": "benchmarks that print figures (infer, train, store, ...)",
    "demo": "create (or re-create) the demo project and print its location",
    "predict": "run a detector on an image, folder or video; write COCO results JSON",
    "arch": "architecture table of a zoo model: stages, params, counted FLOPs (--compare MODEL2)",
    "train": "fine-tune a detector on a COCO export (also under torchrun)",
    "eval": "COCO metrics, per-class AP and TP/FP/FN of a checkpoint on a project or COCO file",
    "export": "write a project's labels as COCO, Pascal VOC or YOLO",
    "import": "merge a COCO / VOC / YOLO label file into a project",
    "weights": "COCO-trained detectors from detectron2 / mmdetection: list, fetch, import (convert)",
}


def _command(name: str) -> ModuleType:
    """The module of subcommand ``name`` (imported on demand)."""
    from rnxstudio.commands import arch, bench, demo, export, import_, predict, train, weights
    from rnxstudio.commands import eval as eval_

    return {"bench": bench, "demo": demo, "predict": predict, "arch": arch, "train": train, "eval": eval_,
            "export": export, "import": import_, "weights": weights}[name]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnxstudio",
        description="Label, inspect and fine-tune a ResNeXt Faster R-CNN detector. "
        "Without a subcommand, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"rnxstudio {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the bundled demo project (created on first use)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == "gui":
            _add_gui_arguments(sp)
            continue
        module = _command(name)
        module.add_arguments(sp)
        sp.set_defaults(_handler=module.run)
    return parser


def _add_gui_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("path", nargs="?", help="project file (.rnxproj), image folder or video file")
    sp.add_argument("--demo", action="store_true", help="open the demo project")


def _run_gui(path: str | None, demo: bool) -> int:
    if path and not demo:
        from pathlib import Path

        if not Path(path).exists():
            print(f"rnxstudio: {path}: no such file or folder", file=sys.stderr)
            return 2
    try:
        from rnxstudio.ui.app import run_app
    except ImportError as exc:  # PySide6 missing or its system libraries absent
        print(f"rnxstudio: cannot start the GUI: {exc}", file=sys.stderr)
        return 2
    return run_app(path=path, demo=demo)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "bench" and not argv[1].startswith("-"):
        # `rnxstudio bench NAME --opt ...`: the benchmark parses its own options (argparse's
        # REMAINDER cannot pass options that start with "--" through a sub-parser)
        from rnxstudio import bench

        if argv[1] in bench.BENCHES:
            rest = argv[2:][1:] if argv[2:3] == ["--"] else argv[2:]
            return bench.run_bench(argv[1], rest)
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "gui"):
        return _run_gui(getattr(args, "path", None), bool(args.demo))
    try:
        return int(args._handler(args) or 0)
    except CliError as exc:
        print(f"rnxstudio {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def gui_main() -> int:
    return main(sys.argv[1:] or [])


if __name__ == "__main__":
    sys.exit(main())
