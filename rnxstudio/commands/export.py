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
    from pathlib import Path

    from rnxstudio.commands import CliError
    from rnxstudio.data.errors import LabelFormatError
    from rnxstudio.data.project import ProjectError, fill_image_sizes, open_project, write_frames

    try:
        store = open_project(args.project)
    except ProjectError as exc:
        raise CliError(str(exc)) from exc
    out = Path(args.out)
    try:
        fill_image_sizes(store)
        ls = store.to_labelset(verified_only=args.verified_only)
        unsized = [r for r in ls.images if r.width <= 0 or r.height <= 0]
        if unsized:
            print(f"skipping {len(unsized)} unreadable images (e.g. {unsized[0].path}: "
                  f"{unsized[0].error or 'size unknown'})", file=sys.stderr)
            keep = [r for r in ls.images if r.width > 0 and r.height > 0]
            ls.images = keep
            ls.boxes = {r.id: ls.boxes.get(r.id, []) for r in keep}
        if not ls.images:
            raise CliError(f"{store.path}: nothing to export"
                           + (" (no image is marked verified)" if args.verified_only else ""))
        coco_file = out if args.format == "coco" and out.suffix.lower() == ".json" else out / "annotations.json"
        frames_dir = coco_file.parent if args.format == "coco" else out
        if any(r.frame_index is not None for r in ls.images):
            ls = write_frames(store, ls, frames_dir)
        if args.format == "coco":
            from rnxstudio.data.coco import write_coco

            write_coco(ls, coco_file)
            target = coco_file
        elif args.format == "voc":
            from rnxstudio.data.voc import write_voc

            write_voc(ls, out)
            target = out
        else:
            from rnxstudio.data.yolo import write_yolo

            write_yolo(ls, out)
            target = out
    except (LabelFormatError, ProjectError, OSError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        store.close()
    print(f"exported {len(ls.images)} images, {ls.num_boxes} boxes, {len(ls.categories)} categories "
          f"as {args.format} to {target}")
    if args.format == "coco":
        print(f"image root: {ls.root}")
    return 0
