"""`rnxstudio demo`: create the demo data (images, ground truth, video) and print where it is."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="folder to create it in (default: the user data dir's demo/v<version>/)")
    parser.add_argument("--force", action="store_true", help="regenerate even if it exists")


def run(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from rnxstudio.data.demo import ensure_demo
    from rnxstudio.data.demo_project import demo_root

    root = Path(args.out) if args.out else demo_root()
    if args.force and root.exists():
        shutil.rmtree(root)
    images = ensure_demo(root)
    print(f"demo images: {images}")
    print(f"ground truth: {images / 'annotations.json'}")
    print(f"demo video:  {root / 'video' / 'shapes.avi'}")
    return 0
