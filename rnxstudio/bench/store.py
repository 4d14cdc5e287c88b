"""`rnxstudio bench store`: the project store at scale (default 100k images, 1M boxes).

Prints figures, asserts nothing: bulk build time, open time, one-edit commit latency
(median / p95, for both durability settings), status-filter / category-filter / name-search
query times and per-image box lookup time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from rnxstudio.core.model import Box, BoxSource, ImageRecord, ImageStatus
from rnxstudio.data.store import ProjectStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=100_000, help="number of images (default 100000)")
    parser.add_argument("--boxes", type=int, default=1_000_000, help="number of boxes (default 1000000)")
    parser.add_argument("--edits", type=int, default=200, help="timed single edits (default 200)")
    parser.add_argument("--dir", help="folder for the project file (default: a temp folder, removed after)")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def build(path: Path, n_images: int, n_boxes: int, seed: int = 0) -> float:
    """Create a project with synthetic rows; returns seconds taken."""
    rng = random.Random(seed)
    statuses = list(ImageStatus)
    t0 = time.perf_counter()
    with ProjectStore.create(path, root=path.parent, durability="normal") as store:
        cats = [store.add_category(f"class{k}").id for k in range(20)]
        store.add_images(ImageRecord(f"folder{i % 100}/img{i}.jpg", width=640, height=480,
                                     status=statuses[rng.randrange(4)]) for i in range(n_images))

        store._conn.execute("PRAGMA cache_size=-262144")  # 256 MB page cache while bulk loading

        def boxes():
            # image by image (as a real project fills up), so index inserts stay mostly sequential
            owners = sorted(1 + rng.randrange(n_images) for _ in range(n_boxes))
            for k, image_id in enumerate(owners):
                x, y = rng.uniform(0, 600), rng.uniform(0, 440)
                src = BoxSource.PREDICTED if k % 4 == 0 else BoxSource.MANUAL
                yield Box(x, y, x + rng.uniform(2, 40), y + rng.uniform(2, 40), cats[rng.randrange(20)], image_id=image_id,
                          source=src, score=0.5 if src is BoxSource.PREDICTED else None)

        store.add_boxes(boxes())
        store._conn.execute("ANALYZE")
    return time.perf_counter() - t0


def _timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def measure(path: Path, n_images: int, edits: int, seed: int = 1) -> dict[str, float]:
    rng = random.Random(seed)
    figures: dict[str, float] = {}
    t0 = time.perf_counter()
    store = ProjectStore.open(path)
    store.categories()
    figures["open"] = time.perf_counter() - t0
    try:
        for durability in ("full", "normal"):
            store._conn.execute(f"PRAGMA synchronous={durability.upper()}")
            lat = []
            for _ in range(edits):
                image_id = 1 + rng.randrange(n_images)
                t0 = time.perf_counter()
                b = store.add_box(Box(10, 10, 50, 50, 1, image_id=image_id))
                lat.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                store.update_box(b.with_coords(11, 11, 60, 60))
                lat.append(time.perf_counter() - t0)
            figures[f"edit_median_{durability}"] = statistics.median(lat)
            figures[f"edit_p95_{durability}"] = _percentile(lat, 0.95)
        store._conn.execute("PRAGMA synchronous=FULL")
        figures["status_filter"] = statistics.median(_timed(lambda: store.image_ids(status=ImageStatus.VERIFIED), 5))
        figures["all_ids"] = statistics.median(_timed(store.image_ids, 5))
        figures["count_by_status"] = statistics.median(_timed(store.status_counts, 5))
        figures["category_filter"] = statistics.median(_timed(lambda: store.image_ids(category_id=3), 3))
        figures["name_search"] = statistics.median(_timed(lambda: store.image_ids(search="img1234"), 3))
        ids = [1 + rng.randrange(n_images) for _ in range(1000)]
        it = iter(ids)
        figures["box_lookup"] = statistics.median(_timed(lambda: store.boxes(next(it)), len(ids)))
        figures["n_verified"] = len(store.image_ids(status=ImageStatus.VERIFIED))
    finally:
        store.close()
    return figures


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="rnx-bench-store-", dir=args.dir) as tmp:
        path = Path(tmp) / "bench.rnxproj"
        print(f"building {args.images:,} images / {args.boxes:,} boxes in {path} ...", flush=True)
        seconds = build(path, args.images, args.boxes)
        size_mb = path.stat().st_size / 1e6
        print(f"bulk build                 {seconds:8.2f} s   ({size_mb:.0f} MB file)")
        f = measure(path, args.images, args.edits)
    print(f"open                       {_ms(f['open']):>12}")
    print(f"one edit commit (FULL)     median {_ms(f['edit_median_full'])}, p95 {_ms(f['edit_p95_full'])}")
    print(f"one edit commit (NORMAL)   median {_ms(f['edit_median_normal'])}, p95 {_ms(f['edit_p95_normal'])}")
    print(f"status filter ({int(f['n_verified']):,} ids)  {_ms(f['status_filter']):>12}")
    print(f"all ids in display order   {_ms(f['all_ids']):>12}")
    print(f"counts per status          {_ms(f['count_by_status']):>12}")
    print(f"category filter            {_ms(f['category_filter']):>12}")
    print(f"name search (substring)    {_ms(f['name_search']):>12}")
    print(f"boxes of one image         {_ms(f['box_lookup']):>12}  (median of 1000)")
    return 0
