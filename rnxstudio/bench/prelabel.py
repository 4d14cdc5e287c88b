"""`rnxstudio bench prelabel`: "pre-label all" end to end against the model alone.

A folder of ``--images`` generated JPEGs (default 32 at 1600x1200, camera-sized) is opened as a
project. Two things are timed, alternating, in one run:

model-only   the predictor's forward pass on the images already decoded and resized to the
             model's size (the same tensors the pipeline makes), one batch after another;
end to end   :func:`rnxstudio.ml.predict.run_inference` on the files (decode + resize on worker
             threads while the model runs, batches on CUDA) with every image's predictions
             written to the project through the session (``set_predictions``), as the GUI's pre-label-all does.

The ratio end-to-end / model-only throughput is the pipeline's efficiency (target >= 0.9 on a
CPU; >= 0.8 and >= 100 images/s for X50-FPN at 800 px on an H200). The images/s the last
progress record reports (what the GUI's progress shows) is printed beside it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="resnext50_32x4d_fpn", help="zoo model (seeded random weights)")
    parser.add_argument("--size", type=int, default=800, help="model min_size")
    parser.add_argument("--images", type=int, default=32, help="JPEG files in the folder")
    parser.add_argument("--image-size", type=int, nargs=2, default=(1600, 1200), metavar=("W", "H"))
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, auto")
    parser.add_argument("--precision", default="auto", help="auto, fp32, bf16, fp16")
    parser.add_argument("--backend", default="auto", help="auto, torch, openvino")
    parser.add_argument("--batch", type=int, default=None, help="images per forward (default: 1 CPU, 8 CUDA)")
    parser.add_argument("--workers", type=int, default=None, help="decode threads (default: 2 CPU, up to 8 CUDA)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each measurement")
    parser.add_argument("--quick", action="store_true", help="tiny model, 8 small JPEGs, 1 round")


def make_folder(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    """``n`` generated shapes scenes as JPEG files (quality 90) in ``folder``."""
    import numpy as np
    from PIL import Image

    from rnxstudio.data.demo import make_scene

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"img_{i:04d}.jpg"
        rgb = make_scene(np.random.default_rng(1000 + i), size[0], size[1], 8)[0]
        Image.fromarray(rgb).save(p, quality=90)
        paths.append(p)
    return paths


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_only(predictor, prepared: list, batch: int) -> float:
    """Seconds for the forward passes alone over already-prepared images."""
    t = time.perf_counter()
    for i in range(0, len(prepared), batch):
        predictor.predict_prepared(prepared[i:i + batch])
    _sync(predictor.device)
    return time.perf_counter() - t


def end_to_end(predictor, paths: list[Path], session, ids: dict[str, int], cat_ids: list[int], batch: int | None,
               workers: int | None) -> tuple[float, float]:
    """(seconds, images/s of the last progress record) for files -> detections -> the project,
    through the session as the app's pre-label-all does."""
    from rnxstudio.ml.predict import run_inference

    name = predictor.built.spec.name
    last_ips = 0.0
    t = time.perf_counter()
    for item in run_inference(paths, predictor, batch_size=batch, workers=workers):
        if not item.ok:
            raise RuntimeError(item.error)
        image_id = ids[str(Path(item.source).resolve())]
        session.set_predictions(image_id, item.detections.to_boxes(cat_ids, image_id=image_id), model_name=name)
        last_ips = item.images_per_s
    _sync(predictor.device)
    return time.perf_counter() - t, last_ips


def run(args: argparse.Namespace) -> int:
    import torch

    from rnxstudio.core.benchtable import Row, emit
    from rnxstudio.data import images
    from rnxstudio.bench.fast import speed_model
    from rnxstudio.data.project import create_project
    from rnxstudio.data.session import ProjectSession
    from rnxstudio.ml.predict import Predictor, default_batch_size, default_workers

    model = "resnext_tiny_fpn" if args.quick else args.model
    size = min(args.size, 256) if args.quick else args.size
    n = 8 if args.quick else args.images
    isize = (640, 480) if args.quick else tuple(args.image_size)
    rounds = 1 if args.quick else max(1, args.rounds)
    built = speed_model(model, size)
    predictor = Predictor(built, device=args.device, precision=args.precision, backend=args.backend)
    dev = predictor.device
    batch = args.batch or default_batch_size(dev)
    workers = args.workers or default_workers(dev)
    with tempfile.TemporaryDirectory(prefix="rnx-bench-prelabel-") as tmp:
        paths = make_folder(Path(tmp) / "photos", n, isize)
        session = ProjectSession(create_project(Path(tmp) / "photos", Path(tmp) / "project.rnx"))
        store = session.store
        try:
            cats, _added = session.category_ids_for(built.class_names)
            ids = {str(Path(store.absolute_path(r)).resolve()): r.id for r in store.images()}
            prepared = [predictor.prepare(images.load(p)) for p in paths]
            print(f"{n} JPEGs {isize[0]}x{isize[1]} -> {model} at {size}px on {predictor.describe()}; "
                  f"batch {batch}, {workers} decode threads, torch {torch.get_num_threads()} threads")
            model_only(predictor, prepared[:batch], batch)  # warm-up: allocator, primitive caches
            end_to_end(predictor, paths[:batch], session, ids, cats, batch, workers)
            t_model, t_e2e, shown = [], [], []
            for _ in range(rounds):
                t_model.append(model_only(predictor, prepared, batch))
                secs, ips = end_to_end(predictor, paths, session, ids, cats, batch, workers)
                t_e2e.append(secs)
                shown.append(ips)
            stored = store.count_boxes()
        finally:
            session.close()
    ips_model, ips_e2e = n / statistics.median(t_model), n / statistics.median(t_e2e)
    ratio = ips_e2e / ips_model
    target = 0.8 if dev.type == "cuda" else 0.9
    rows = [Row(f"pre-label all {n} JPEGs {isize[0]}x{isize[1]}, {predictor.path_name} (end to end / model only)",
                f"{ips_model:.2f} img/s", f"{ips_e2e:.2f} img/s", ratio, f">= {target:.2f}x", ratio >= target)]
    if dev.type == "cuda":
        rows.append(Row("pre-label all throughput on CUDA", "-", f"{ips_e2e:.1f} img/s", None, ">= 100 img/s (H200, X50 800px)",
                        ips_e2e >= 100 if model.startswith("resnext50") and size == 800 else None))
    emit(rows, "pre-label all: decode + resize + model + store vs model only")
    print(f"images/s shown by the progress records: {statistics.median(shown):.2f} (end to end measured "
          f"{ips_e2e:.2f}); {stored} predicted boxes in the store")
    print(f"prelabel ratio: {ratio:.3f} of model-only throughput ({ips_e2e:.2f} vs {ips_model:.2f} img/s)")
    return 0
