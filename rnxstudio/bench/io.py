"""`rnxstudio bench io`: folder scan, image load/read_size and video access figures (printed).

Nothing here asserts a time; it reports what this machine does:
  - scan_folder over N empty files with image names (no decode is the point),
  - load() of a photo-sized JPEG and PNG against plain Pillow ``np.asarray(Image.open())``,
  - read_size() (header only),
  - VideoReader: sequential frames per second and random-access reads per second.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--files", type=int, default=10_000, help="files to create for the scan (default 10000)")
    parser.add_argument("--size", type=int, nargs=2, default=(1920, 1080), metavar=("W", "H"),
                        help="image size for the load benchmark (default 1920 1080)")
    parser.add_argument("--repeat", type=int, default=10, help="loads per format (default 10)")
    parser.add_argument("--frames", type=int, default=120, help="frames in the test video (default 120)")
    parser.add_argument("--dir", default=None, help="work folder (default: a temp folder, removed after)")


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from rnxstudio.data.demo import make_scene, make_shapes_video
    from rnxstudio.data.images import load, read_size
    from rnxstudio.data.scan import scan_folder
    from rnxstudio.data.video import VideoReader

    work = Path(args.dir or tempfile.mkdtemp(prefix="rnx_bench_io_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        folder = work / "scan"
        folder.mkdir()
        for i in range(args.files):
            (folder / f"img_{i}.{('jpg', 'png', 'JPG')[i % 3]}").touch()
        (folder / "notes.txt").touch()
        t = time.perf_counter()
        listed = scan_folder(folder)
        dt = time.perf_counter() - t
        print(f"scan_folder: {len(listed)} files listed in {dt * 1000:.1f} ms (natural sort included)")

        w, h = args.size
        rgb, _ = make_scene(np.random.default_rng(0), w, h, 8)
        for ext, kw in ((".jpg", {"quality": 92}), (".png", {})):
            p = work / f"photo{ext}"
            Image.fromarray(rgb).save(p, **kw)
            t_load = _best(lambda p=p: load(p), args.repeat)
            t_pil = _best(lambda p=p: np.asarray(Image.open(p).convert("RGB")), args.repeat)
            t_size = _best(lambda p=p: read_size(p), args.repeat)
            print(f"load {w}x{h}{ext}: {t_load * 1000:.1f} ms (plain Pillow {t_pil * 1000:.1f} ms); "
                  f"read_size {t_size * 1e6:.0f} us")

        vid = work / "v.avi"
        make_shapes_video(vid, n_frames=args.frames, size=(320, 240))
        with VideoReader(vid) as v:
            t = time.perf_counter()
            n = sum(1 for _ in v.frames())
            seq = n / (time.perf_counter() - t)
            rng = np.random.default_rng(0)
            idx = rng.integers(0, n, 50)
            t = time.perf_counter()
            for i in idx:
                v.read(int(i))
            rnd = len(idx) / (time.perf_counter() - t)
        print(f"video 320x240 MJPG: {seq:.0f} frames/s sequential, {rnd:.0f} random reads/s")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0
