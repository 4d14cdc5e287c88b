"""`rnxstudio import PROJECT FILE`: merge labels into a project.

FILE is a label file (COCO .json, VOC .xml, YOLO data.yaml), a folder of them, or an unzipped
export as it is (Roboflow, Label Studio, CVAT, labelme2coco/voc, VOCdevkit, YOLO): its layout is
recognised and every split is read (docs/formats.md). All or nothing: a file with errors changes
nothing. Existing boxes are never changed or removed; boxes already present are skipped, so
importing twice is harmless. Images are matched by relative path, then by unique file name; names
that match no project image are reported with the boxes they held.
"""

from __future__ import annotations

import argparse

FORMATS = ("auto", "coco", "voc", "yolo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="project file (.rnxproj), image folder or video")
    parser.add_argument("file", help="label file or folder: COCO .json, VOC .xml (or a folder of them), YOLO "
                                     "data.yaml or labels folder, or an unzipped export (Roboflow, Label Studio, "
                                     "CVAT, VOCdevkit, ...)")
    parser.add_argument("--format", choices=FORMATS, default="auto", help="label format (default: guess from FILE)")
    parser.add_argument("--match", choices=("relpath-then-basename", "relpath", "basename"),
                        default="relpath-then-basename", help="how file names are matched to project images")
    parser.add_argument("--names", metavar="A,B,C|FILE",
                        help="class names for YOLO labels (index order): a comma-separated list, or a file "
                             "(classes.txt with one name per line, or a data.yaml)")
    parser.add_argument("--one-based", action="store_true",
                        help="VOC coordinates are PASCAL's 1-based pixel indices (xmin 1 = the first pixel)")
    parser.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True,
                        help="a new folder project includes sub-folders (default: yes)")


def parse_names(value: str | None) -> list[str] | None:
    """``--names``: a file (classes.txt / data.yaml) when one exists at that path, else a comma list."""
    if value is None:
        return None
    from pathlib import Path

    from rnxstudio.commands import CliError

    path = Path(value)
    if path.is_file():
        text = path.read_text(encoding="utf-8-sig")
        if path.suffix.lower() in (".yaml", ".yml"):
            from rnxstudio.data.yolo_yaml import names_from_yaml

            try:
                names = names_from_yaml(text)
            except ValueError as exc:
                raise CliError(f"{path}: cannot read names ({exc})") from exc
            if not names:
                raise CliError(f"{path}: no 'names' in the file")
            return names
        return [ln.strip() for ln in text.splitlines() if ln.strip()]
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise CliError(f"--names {value!r}: no class names (give a,b,c or a file)")
    return names


def run(args: argparse.Namespace) -> int:
    import sys

    from rnxstudio.commands import CliError, open_session_or_fail
    from rnxstudio.data.errors import LabelFormatError
    from rnxstudio.data.exchange import ExchangeError
    from rnxstudio.data.project import ProjectError

    names = parse_names(args.names)
    with open_session_or_fail(args.project, recursive=args.recursive) as session:
        try:
            report = session.import_labels(args.file, args.format, match=args.match, class_names=names,
                                           one_based=args.one_based)
        except (ExchangeError, LabelFormatError, ProjectError, OSError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        print(f"imported into {session.store.path}: {report.summary()}")
    for title, items in (("not in project", report.unmatched_files), ("skipped", report.skipped_boxes),
                         ("clipped", report.clipped_far)):
        for item in items[:10]:
            print(f"  {title}: {item}", file=sys.stderr)
        if len(items) > 10:
            print(f"  ... and {len(items) - 10} more", file=sys.stderr)
    return 0
