"""`rnxstudio export PROJECT --format coco|voc|yolo --out DIR`: write the project's labels.

PROJECT is a project file, an image folder or a video (resolved like the GUI does, created on
first use). Only a person's boxes (manual + accepted) are exported, never raw predictions. For a
video project the annotated frames are written as PNG files under DIR/frames/ and the label files
reference them.
"""

from __future__ import annotations

import argparse

FORMATS = ("coco", "voc", "yolo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="project file (.rnxproj), image folder or video")
    parser.add_argument("--format", choices=FORMATS, default="coco", help="label format (default: coco)")
    parser.add_argument("--out", required=True,
                        help="output folder (for coco also a .json file path; default file name annotations.json)")
    parser.add_argument("--verified-only", action="store_true", help="export only images marked verified")


def run(args: argparse.Namespace) -> int:
    import sys

    from rnxstudio.commands import CliError, open_session_or_fail
    from rnxstudio.data.errors import LabelFormatError
    from rnxstudio.data.exchange import ExchangeError
    from rnxstudio.data.project import ProjectError

    with open_session_or_fail(args.project) as session:
        try:
            result = session.export_labels(args.format, args.out, verified_only=args.verified_only)
        except (ExchangeError, LabelFormatError, ProjectError, OSError) as exc:
            raise CliError(str(exc)) from exc
    if result.skipped:
        print(f"skipping {len(result.skipped)} unreadable images (e.g. {result.skipped[0]})", file=sys.stderr)
    print(result.summary())
    if args.format == "coco":
        print(f"image root: {result.image_root}")
    return 0
