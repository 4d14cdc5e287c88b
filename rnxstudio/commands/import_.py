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


def run(args: argparse.Namespace) -> int:
    import sys

    from rnxstudio.commands import CliError, open_session_or_fail
    from rnxstudio.data.errors import LabelFormatError
    from rnxstudio.data.exchange import ExchangeError
    from rnxstudio.data.project import ProjectError

    with open_session_or_fail(args.project) as session:
        try:
            report = session.import_labels(args.file, args.format, match=args.match)
        except (ExchangeError, LabelFormatError, ProjectError, OSError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        print(f"imported into {session.store.path}: {report.summary()}")
    for name in report.unmatched_files[:10]:
        print(f"  not in project: {name}", file=sys.stderr)
    if len(report.unmatched_files) > 10:
        print(f"  ... and {len(report.unmatched_files) - 10} more", file=sys.stderr)
    for problem in report.skipped_boxes[:10]:
        print(f"  skipped: {problem}", file=sys.stderr)
    return 0
