"""`rnxstudio export PROJECT --format coco|voc|yolo [--out DIR]`: write the project's labels.

PROJECT is a project file, an image folder or video, or an unzipped export (resolved like the GUI
does, created on first use). Only a person's boxes (manual + accepted) are exported, never raw
predictions; unreadable images are left out and counted. Without --out the labels go to a new
folder beside the images; an --out that already holds label files is refused unless --force.
COCO keeps the ids the labels were imported with; VOC writes whole-pixel coordinates; YOLO copies
the images beside the labels so its data.yaml can be trained on as is. A project with splits is
written by split (COCO annotations/instances_<split>.json, VOC ImageSets/Main, YOLO images/<split>).
For a video project the frames are written as PNG files the label files reference.
"""

from __future__ import annotations

import argparse

FORMATS = ("coco", "voc", "yolo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="project file (.rnxproj), image folder, video or unzipped export")
    parser.add_argument("--format", choices=FORMATS, default="coco", help="label format (default: coco)")
    parser.add_argument("--out", help="output folder (for coco also a .json file path); default: a new folder "
                                      "<images folder>-<format> beside the images")
    parser.add_argument("--force", action="store_true", help="replace label files already in --out")
    parser.add_argument("--verified-only", action="store_true", help="export only images marked verified")
    parser.add_argument("--splits", action=argparse.BooleanOptionalAction, default=None,
                        help="write each split apart (default: when the project has splits)")
    parser.add_argument("--new-ids", action="store_true",
                        help="coco: number images and annotations 1..n instead of keeping the imported ids")
    parser.add_argument("--voc-coords", choices=("int", "float"), default="int",
                        help="voc: whole pixels (default; most readers call int()) or exact floats")
    parser.add_argument("--one-based", action="store_true", help="voc: PASCAL's 1-based pixel indices")
    parser.add_argument("--yolo-images", choices=("copy", "link"), default="copy",
                        help="yolo: copy the images beside the labels (default) or symlink them")
    parser.add_argument("--provenance", action="store_true",
                        help="coco: write how each box came to be (drawn / accepted / edited, model, score) as "
                             "the annotation's attributes")
    parser.add_argument("--corrected-only", action="store_true",
                        help="export only images a person corrected (a box drawn or edited, or a prediction "
                             "rejected): train on them with `rnxstudio train --coco`")
    parser.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True,
                        help="a new folder project includes sub-folders (default: yes)")


def run(args: argparse.Namespace) -> int:
    import sys

    from rnxstudio.commands import CliError, open_session_or_fail
    from rnxstudio.data.errors import LabelFormatError
    from rnxstudio.data.exchange import ExchangeError, default_export_dir, export_conflicts
    from rnxstudio.data.project import ProjectError

    with open_session_or_fail(args.project, recursive=args.recursive) as session:
        try:
            out = args.out if args.out is not None else default_export_dir(session.store, args.format)
            existing = export_conflicts(args.format, out)
            if existing and not args.force:
                raise CliError(f"{out} already holds label files ({len(existing)}{'+' if len(existing) >= 20 else ''}, "
                               f"e.g. {existing[0]}); pass --force to replace them, or choose another --out")
            result = session.export_labels(args.format, out, verified_only=args.verified_only,
                                           keep_ids=not args.new_ids, voc_coords=args.voc_coords,
                                           one_based=args.one_based, yolo_images=args.yolo_images, splits=args.splits,
                                           provenance=args.provenance, corrected_only=args.corrected_only)
        except (ExchangeError, LabelFormatError, ProjectError, OSError) as exc:
            raise CliError(str(exc)) from exc
    for item in result.skipped[:10]:
        print(f"  left out (unreadable): {item}", file=sys.stderr)
    print(result.summary())
    if args.format == "coco":
        print(f"image root: {result.image_root}")
    return 0
