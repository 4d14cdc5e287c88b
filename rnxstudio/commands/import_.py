"""`rnxstudio import PROJECT FILE [--format auto|coco|voc|yolo]`: merge labels into a project.

All or nothing: a file with errors changes nothing. Existing boxes are never changed or removed;
boxes already present are skipped, so importing twice is harmless. Images are matched by relative
path, then by unique file name; names that match no project image are reported.
"""

from __future__ import annotations

import argparse

FORMATS = ("auto", "coco", "voc", "yolo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="project file (.rnxproj), image folder or video")
    parser.add_argument("file", help="label file or folder: COCO .json, VOC .xml (or a folder of them), "
                                     "YOLO folder (classes.txt / data.yaml + labels)")
    parser.add_argument("--format", choices=FORMATS, default="auto", help="label format (default: guess from FILE)")
    parser.add_argument("--match", choices=("relpath-then-basename", "relpath", "basename"),
                        default="relpath-then-basename", help="how file names are matched to project images")


def detect_format(path) -> str | None:
    """Guess the label format of a file or folder from names only; None when unsure."""
    from pathlib import Path

    p = Path(path)
    if p.is_file():
        return {".json": "coco", ".xml": "voc", ".txt": "yolo", ".yaml": "yolo", ".yml": "yolo"}.get(p.suffix.lower())
    if p.is_dir():
        names = {c.name.lower() for c in p.iterdir()}
        if {"classes.txt", "data.yaml", "labels"} & names:
            return "yolo"
        if any(n.endswith(".xml") for n in names) or "annotations" in names and any(
                c.suffix.lower() == ".xml" for c in (p / "annotations").iterdir()):
            return "voc"
        if any(n.endswith(".txt") for n in names):
            return "yolo"
    return None


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from rnxstudio.commands import CliError
    from rnxstudio.data.errors import LabelFormatError
    from rnxstudio.data.project import ProjectError, open_project

    src = Path(args.file)
    if not src.exists():
        raise CliError(f"{src}: no such file or folder")
    fmt = args.format if args.format != "auto" else detect_format(src)
    if fmt is None:
        raise CliError(f"{src}: cannot tell the label format; pass --format coco|voc|yolo")
    try:
        store = open_project(args.project)
    except ProjectError as exc:
        raise CliError(str(exc)) from exc
    try:
        root = store.root
        if fmt == "coco":
            from rnxstudio.data.coco import read_coco

            ls = read_coco(src, image_root=root)
        elif fmt == "voc":
            from rnxstudio.data.voc import read_voc

            ls = read_voc(src, image_root=root)
        else:
            from rnxstudio.data.yolo import read_yolo

            folder = src if src.is_dir() else src.parent
            has_names = any((folder / n).is_file() for n in ("classes.txt", "data.yaml")) or src.suffix.lower() in (".yaml", ".yml")
            names = None if has_names else [c.name for c in store.categories()] or None
            ls = read_yolo(src, root, class_names=names)
        report = store.import_labelset(ls, match=args.match)
    except (LabelFormatError, ProjectError, OSError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        store.close()
    print(f"imported into {store.path}: {report.summary()}")
    for name in report.unmatched_files[:10]:
        print(f"  not in project: {name}", file=sys.stderr)
    if len(report.unmatched_files) > 10:
        print(f"  ... and {len(report.unmatched_files) - 10} more", file=sys.stderr)
    for problem in report.skipped_boxes[:10]:
        print(f"  skipped: {problem}", file=sys.stderr)
    return 0
