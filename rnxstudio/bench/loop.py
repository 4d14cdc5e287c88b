"""`rnxstudio bench loop`: what the correct → fine-tune → re-predict loop saves a person, measured
with a simulated annotator (:mod:`rnxstudio.bench.loop_annotator`) on generated shapes with a
share of hard scenes (:mod:`rnxstudio.data.demo_hard`).

Headless, through the app's own code: a project and its :class:`~rnxstudio.data.session.ProjectSession`;
pre-labelling with :func:`~rnxstudio.ml.predict.run_inference` and ``session.set_predictions``
(as "pre-label all" does); the annotator's edits as the GUI's core commands; the review queue of
:mod:`rnxstudio.ml.review`; and each fine-tune as the Fine-tune dialog starts one — options
(:mod:`rnxstudio.ml.finetune_options`), snapshot and run record (:mod:`rnxstudio.ml.project_run`),
the trainer :func:`rnxstudio.ml.train.finetune`, best checkpoints recorded in the project.

The task (``--classes unseen``, the default) is five shapes the shipped demo detector has never
seen, and the first fine-tune starts from that detector (``--base demo``): the shipped model
plays the part COCO weights play for a person's own classes — it knows the domain (backgrounds,
what an object looks like) and none of the classes (ADR 0025). ``--base scratch`` starts from the
CPU recipe's random init instead; ``--classes known`` labels the demo detector's own five classes.

Round 0 is drawn by hand. After each round but the last, the model is fine-tuned on every image
labelled so far from the previous round's checkpoint (round 0: from ``--base``) within
``--minutes``, and scored (AP50) on a fixed held-out set. From round 1
on, the latest model pre-labels the round (``--prelabel first``: the first model, never
retrained). ``--order queue`` picks each round's images by the review queue instead of file order.
The last line is for scripts: ``loop: round R costs X.XX of drawing-only (AP50 Y.YY)``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnxstudio.bench.loop_annotator import Actions, Costs, annotate, check_labels, drawing_seconds, loop_seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=5, help="rounds of labelling (round 0 is drawn by hand)")
    parser.add_argument("--round-images", type=int, default=30, help="images per round")
    parser.add_argument("--pool", type=int, default=300, help="generated images to label from")
    parser.add_argument("--held-out", type=int, default=100, help="generated images for the AP50 held-out set")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--hard-share", type=float, default=0.3, help="share of hard scenes (small, overlapping, low contrast)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--minutes", type=float, default=3.0, help="fine-tune budget per round (wall clock)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="--minutes on the wall clock, or in process CPU time / torch threads (the same compute as "
                             "that many minutes on otherwise idle cores; for a shared machine)")
    parser.add_argument("--max-steps", type=int, help="cap each fine-tune at this many steps (tests, quick tries)")
    parser.add_argument("--val-split", type=float,
                        help="share of the labelled images each fine-tune holds out to choose its best checkpoint "
                             "(default: the Fine-tune dialog's); 0 trains on every labelled image and keeps the last")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--prelabel", choices=("latest", "first"), default="latest",
                        help="pre-label with the latest fine-tuned model, or with the first one only")
    parser.add_argument("--compare-first", action="store_true",
                        help="after the run, replay it pre-labelling with the first model only (no more training)")
    parser.add_argument("--order", choices=("file", "queue"), default="file",
                        help="each round's images: the next in file order, or the review queue's top")
    parser.add_argument("--accept", choices=("all", "one"), default="all",
                        help="accept with accept-all above the slider, or one prediction at a time")
    parser.add_argument("--threshold", type=float, default=0.5, help="the score slider (predictions below are hidden)")
    for name, default in (("draw", 7.0), ("verify", 1.6)):
        parser.add_argument(f"--{name}-cost", type=float, default=default, help=f"seconds to {name} a box")
    for name in ("reject", "relabel", "adjust", "image"):
        parser.add_argument(f"--{name}-cost", type=float, help=f"seconds to {name} (default: derived, see the cost table)")
    parser.add_argument("--coco", help="real data: a COCO file with the ground truth of --images (instead of generated shapes)")
    parser.add_argument("--images", help="real data: the image folder the COCO file names are relative to")
    parser.add_argument("--classes", choices=("unseen", "known"), default="unseen",
                        help="the generated task: five shapes the demo detector has never seen, or its own five")
    parser.add_argument("--base", default="demo",
                        help="the first fine-tune starts from this checkpoint or zoo name (default: the shipped demo "
                             "detector; e.g. one made by `rnxstudio weights import`), or 'scratch' for the CPU "
                             "recipe's random init")
    parser.add_argument("--recipe", choices=("learn", "dialog"), default="learn",
                        help="fine-tune settings: 'learn' trains every stage at the from-scratch rate (what teaches a "
                             "base new classes; default), 'dialog' takes the Fine-tune dialog's default for a trained "
                             "base (two stages, half the rate; measured worse on new classes, docs/PERFORMANCE.md)")
    parser.add_argument("--base-prelabels", action="store_true",
                        help="round 0 is pre-labelled by --base too (when it already knows the classes, by name)")
    parser.add_argument("--out", help="keep the data, projects, checkpoints, loop.json and loop.png here")
    parser.add_argument("--quick", action="store_true", help="a two-round miniature in seconds (tiny images, 2 steps)")


@dataclass
class LoopResult:
    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[tuple[str, float | None]] = field(default_factory=list)  # (path, held-out AP50) per fine-tune


def _quick(args: argparse.Namespace) -> None:
    args.rounds, args.round_images, args.pool, args.held_out = 2, 4, 10, 4
    args.image_size, args.max_steps = 96, 2


def _truth(coco: dict, root: Path, store, cat_ids: list[int]) -> dict[int, list]:
    """Project image id -> ground-truth boxes (project category ids) for the COCO file's images."""
    from rnxstudio.core.model import Box

    ids = {str(Path(store.absolute_path(r)).resolve()): r.id for r in store.images()}
    by_coco = {}
    for im in coco["images"]:
        key = str((root / im["file_name"]).resolve())
        if key not in ids:
            raise SystemExit(f"{root / im['file_name']}: in the COCO file but not an image of the folder")
        by_coco[im["id"]] = ids[key]
    cat_index = {c["id"]: k for k, c in enumerate(coco["categories"])}
    out: dict[int, list] = {i: [] for i in by_coco.values()}
    for a in coco["annotations"]:
        if a.get("iscrowd") or a["image_id"] not in by_coco:
            continue
        x, y, w, h = a["bbox"]
        image_id = by_coco[a["image_id"]]
        out[image_id].append(Box(x, y, x + w, y + h, category_id=cat_ids[cat_index[a["category_id"]]], image_id=image_id))
    return out


def _prelabel(session, checkpoint: str, image_ids: list[int], device: str) -> None:
    """Pre-label ``image_ids`` with ``checkpoint`` as the app does (run_inference → set_predictions)."""
    from rnxstudio.bench.prelabel import end_to_end
    from rnxstudio.ml.predict import Predictor
    from rnxstudio.ml.resolve import resolve

    store = session.store
    predictor = Predictor(resolve(checkpoint), device=device)
    cats, _added = session.category_ids_for(predictor.built.class_names)
    recs = store.images(image_ids)
    paths = [Path(store.absolute_path(r)) for r in recs]
    ids = {str(p.resolve()): r.id for p, r in zip(paths, recs)}
    end_to_end(predictor, paths, session, ids, cats, None, None)


def _finetune(session, base: str | None, run_dir: Path, args: argparse.Namespace, label: str) -> tuple[str, float, float]:
    """One fine-tune the way the Fine-tune dialog starts it; (best checkpoint, minutes on the
    budget's clock, wall minutes)."""
    from rnxstudio.ml.finetune_options import recommended_options
    from rnxstudio.ml.project_run import finish_run, record_checkpoint, start_run
    from rnxstudio.ml.train import finetune

    if args.recipe == "dialog":  # the dialog's default for this base
        opts = recommended_options(args.device, base=base)
    else:  # every stage trainable at the from-scratch rate: the dialog's values a person sets for new classes
        opts = recommended_options(args.device)
        opts.base = base or opts.base
    opts.epochs, opts.minutes, opts.max_steps = None, args.minutes, args.max_steps
    if args.val_split is not None:
        opts.val_split = args.val_split
    run = start_run(session, opts, run_dir)
    recorded: list[int] = []  # the run's model record, updated as its best file improves (as the GUI does)

    def on_checkpoint(path: Path, info: dict) -> None:
        model = record_checkpoint(session, run.run_id, path, info, name=label,
                                  known_model_id=recorded[-1] if recorded else None)
        if model is not None:
            recorded.append(model.id)

    cfg = run.cfg.replace(on_checkpoint=on_checkpoint, clock=_clock(args))
    t0, w0 = _clock(args)(), time.monotonic()
    gen = finetune(cfg)
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            final = str(stop.value)
            break
        if p.kind in ("start", "done") or (p.kind == "step" and p.message):
            print(f"  {label}: {p.message}", flush=True)
    finish_run(session, run.run_id)
    return final, (_clock(args)() - t0) / 60, (time.monotonic() - w0) / 60


def _clock(args: argparse.Namespace):
    """The fine-tune budget's clock (seconds): wall, or process CPU time over torch's threads."""
    if args.clock == "wall":
        return time.monotonic
    import torch

    threads = torch.get_num_threads()
    return lambda: time.process_time() / threads


def _ap50(checkpoint: str, held: Path, args: argparse.Namespace, size: int, max_size: int | None) -> float:
    from rnxstudio.ml.compare import evaluate_on_split

    res = evaluate_on_split(checkpoint, held / "annotations.json", getattr(args, "held_images", held), split="all", device=args.device,
                            size=size, max_size=max_size)
    return float(res.metrics.get("AP50") or 0.0)


def queue_order(store, todo: list[int], threshold: float) -> list[int]:
    """``todo`` (unlabelled, pre-labelled images) as the review queue ranks them. Its
    disagreement mode ranks images a person has labelled (model vs person); for choosing what to
    label next it ranks unlabelled ones by predictions near the slider (uncertainty). Images the
    queue leaves out (no predictions at all) follow in file order."""
    from rnxstudio.ml.review import review_queue

    ranked = [it.image_id for it in review_queue(store, "uncertainty", include_zero=True, score_thresh=threshold,
                                                 image_ids=todo)]
    return ranked + [i for i in todo if i not in set(ranked)]


def run_loop(name: str, args: argparse.Namespace, costs: Costs, pool: Path, pool_coco: dict, held: Path, work: Path,
             *, prelabel: str, first: tuple[str, float | None] | None = None) -> LoopResult:
    """One simulated labelling campaign in a fresh project on ``pool`` (ground truth ``pool_coco``;
    images of the folder that it does not list are never labelled)."""
    from rnxstudio.data.project import create_project
    from rnxstudio.data.session import ProjectSession
    from rnxstudio.ml.finetune_options import recommended_options

    if work.exists():  # an earlier run into the same --out: start afresh
        shutil.rmtree(work)
    work.mkdir(parents=True)
    rec = recommended_options(args.device)
    result = LoopResult(name)
    with ProjectSession(create_project(pool, work / "loop.rnxproj")) as session:
        session.fill_image_sizes()  # the GUI learns them when it shows an image
        cat_ids = [session.add_category(c["name"]).id for c in pool_coco["categories"]]  # the person adds the classes
        truth = _truth(pool_coco, pool, session.store, cat_ids)
        hard_names = {im["file_name"] for im in pool_coco["images"] if im.get("hard")}
        hard = {r.id for r in session.store.images() if Path(r.path).name in hard_names}
        order = [r.id for r in sorted(session.store.images(), key=lambda r: r.path) if r.id in truth]
        done: set[int] = set()
        model: str | None = args.base if args.base_prelabels else None
        ap50: float | None = None
        for rnd in range(args.rounds):
            todo = [i for i in order if i not in done]
            if model is not None and args.order == "queue":
                _prelabel(session, model, todo, args.device)  # pre-label all unlabelled, then the queue
                chosen = queue_order(session.store, todo, args.threshold)[:args.round_images]
            else:
                chosen = todo[:args.round_images]
                if model is not None:
                    _prelabel(session, model, chosen, args.device)
            if not chosen:
                print(f"round {rnd}: no unlabelled images left (--pool {args.pool})")
                break
            acts = Actions()
            for image_id in chosen:
                acts += annotate(session, image_id, truth[image_id], threshold=args.threshold, accept=args.accept)
                check_labels(session, image_id, truth[image_id])
                done.add(image_id)
            row = {"round": rnd, "images": acts.images, "boxes": acts.truth, "hard": len(hard & set(chosen)),
                   "draw_s": drawing_seconds(acts, costs) / acts.images,
                   "loop_all_s": loop_seconds(acts, costs, "all") / acts.images,
                   "loop_one_s": loop_seconds(acts, costs, "one") / acts.images,
                   "ap50": ap50, "finetune_min": None, "finetune_wall_min": None, "actions": acts.as_dict()}
            row["ratio"] = row["loop_all_s" if args.accept == "all" else "loop_one_s"] / row["draw_s"]
            if rnd < args.rounds - 1 and (not result.checkpoints or prelabel == "latest"):
                if first is not None:
                    model, ap50 = first  # the replay: the first model, made once by the main run
                    result.checkpoints.append(first)
                else:
                    base = model if result.checkpoints else args.base
                    model, row["finetune_min"], row["finetune_wall_min"] = _finetune(
                        session, base, work / f"run{rnd}", args, f"{name} round {rnd}")
                    ap50 = _ap50(model, held, args, rec.size, rec.max_size)
                    result.checkpoints.append((model, ap50))
            result.rows.append(row)
            _print_row(row)
    return result


HEADER = (f"{'round':>5} {'images':>6} {'boxes':>5} {'hard':>4} {'draw s/img':>10} {'loop s/img':>10} "
          f"{'one-by-one':>10} {'ratio':>6} {'AP50':>5} {'ft min':>6}  accepted/relabelled/adjusted/rejected/drawn")


def _print_row(row: dict[str, Any]) -> None:
    a = row["actions"]
    ap = f"{row['ap50']:.2f}" if row["ap50"] is not None else "-"
    ft = f"{row['finetune_min']:.2f}" if row["finetune_min"] is not None else "-"
    print(f"{row['round']:>5} {row['images']:>6} {row['boxes']:>5} {row['hard']:>4} {row['draw_s']:>10.2f} "
          f"{row['loop_all_s']:>10.2f} {row['loop_one_s']:>10.2f} {row['ratio']:>6.2f} {ap:>5} {ft:>6}  "
          f"{a['accepted']}/{a['relabelled']}/{a['adjusted']}/{a['rejected']}/{a['drawn']}", flush=True)


def _summary(results: list[LoopResult], accept: str) -> list[str]:
    """Totals over the rounds after round 0 (where the variants differ), one line per variant."""
    lines = []
    for res in results:
        later = res.rows[1:]
        if not later:
            continue
        imgs = sum(r["images"] for r in later)
        draw = sum(r["draw_s"] * r["images"] for r in later) / imgs
        for mode in ("all", "one"):
            loop = sum(r[f"loop_{mode}_s"] * r["images"] for r in later) / imgs
            lines.append(f"{res.name:<28} accept {mode:<3}: rounds 1-{res.rows[-1]['round']} "
                         f"{loop:6.2f} s/img vs drawing {draw:6.2f} = {loop / draw:.3f}")
    return lines


def _real_data(args: argparse.Namespace, root: Path) -> tuple[Path, dict, Path]:
    """--coco/--images: the last --held-out images (file order) become the held-out set (a COCO
    subset written under ``root``, evaluated on the same folder); the rest are the pool."""
    if not args.images:
        raise SystemExit("--coco needs --images (the folder its file names are relative to)")
    images = Path(args.images)
    coco = json.loads(Path(args.coco).read_text())
    ims = sorted(coco["images"], key=lambda im: im["file_name"])
    if len(ims) <= args.held_out:
        raise SystemExit(f"{args.coco}: {len(ims)} images, not more than --held-out {args.held_out}")
    held_ids = {im["id"] for im in ims[len(ims) - args.held_out:]}

    def subset(keep: set[int]) -> dict:
        return dict(coco, images=[im for im in coco["images"] if im["id"] in keep],
                    annotations=[a for a in coco["annotations"] if a["image_id"] in keep])

    pool_coco = subset({im["id"] for im in ims} - held_ids)
    held = root / "heldout"
    held.mkdir(parents=True, exist_ok=True)
    (held / "annotations.json").write_text(json.dumps(subset(held_ids)))
    args.held_images = images
    return images, pool_coco, held


def run(args: argparse.Namespace) -> int:
    from rnxstudio.bench.loop_plot import line_chart
    from rnxstudio.data.demo import CLASSES, UNSEEN_CLASSES
    from rnxstudio.data.demo_hard import make_loop_dataset

    if args.quick:
        _quick(args)
    if args.base in ("scratch", "none", ""):
        args.base = None
    if args.base_prelabels and args.base is None:
        raise SystemExit("--base-prelabels needs a --base checkpoint")
    classes = UNSEEN_CLASSES if args.classes == "unseen" else CLASSES
    costs = Costs(draw=args.draw_cost, verify=args.verify_cost, reject=args.reject_cost, relabel=args.relabel_cost,
                  adjust=args.adjust_cost, image=args.image_cost)
    data = (f"{args.coco} on {args.images}" if args.coco else
            f"a pool of {args.pool} generated {args.image_size}px scenes of {', '.join(classes)} "
            f"(hard share {args.hard_share:g})")
    print(f"bench loop: {args.rounds} rounds of {args.round_images} images from {data}, held-out {args.held_out}; fine-tune "
          f"{args.minutes:g} min/round ({args.clock} clock){f' (max {args.max_steps} steps)' if args.max_steps else ''} on {args.device} "
          f"from {args.base or 'random init'}; "
          f"pre-label with the {args.prelabel} model, {args.order} order, accept {args.accept}, slider {args.threshold:g}")
    print("costs (seconds per action):")
    for action, secs, src in costs.table():
        print(f"  {action:<10} {secs:5.2f}  {src}")
    tmp = None if args.out else tempfile.TemporaryDirectory(prefix="rnx-bench-loop-")
    root = Path(args.out) if args.out else Path(tmp.name)
    try:
        if args.coco:
            pool, pool_coco, held = _real_data(args, root)
        else:
            pool, held = root / "pool", root / "heldout"
            pool_coco = make_loop_dataset(args.pool, args.image_size, args.seed, pool, hard_share=args.hard_share,
                                          classes=classes)
            make_loop_dataset(args.held_out, args.image_size, args.seed + 1, held, hard_share=args.hard_share,
                              prefix="held", classes=classes)
        name = f"{args.prelabel} model, {args.order} order"
        print(HEADER)
        results = [run_loop(name, args, costs, pool, pool_coco, held, root / "main", prelabel=args.prelabel)]
        if args.compare_first and args.prelabel == "latest" and results[0].checkpoints:
            print(f"replay: pre-label with the first model only ({Path(results[0].checkpoints[0][0]).name})")
            print(HEADER)
            results.append(run_loop(f"first model, {args.order} order", args, costs, pool, pool_coco, held,
                                    root / "first", prelabel="first", first=results[0].checkpoints[0]))
        print("variants (after round 0, weighted by images):")
        for line in _summary(results, args.accept):
            print("  " + line)
        main = results[0]
        series = {"drawing only": [r["draw_s"] for r in main.rows],
                  f"loop, accept-all ({main.name})": [r["loop_all_s"] for r in main.rows],
                  "loop, one by one": [r["loop_one_s"] for r in main.rows]}
        for res in results[1:]:
            series[f"loop, accept-all ({res.name})"] = [r["loop_all_s"] for r in res.rows]
        out_dir = Path(args.out) if args.out else Path.cwd()
        png = line_chart(out_dir / "loop.png", series,
                         title=f"simulated seconds per image by round (draw {costs.draw:g} s, verify {costs.verify:g} s)")
        (out_dir / "loop.json").write_text(json.dumps(
            {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
             "costs": [list(c) for c in costs.table()],
             "results": [{"name": r.name, "rows": r.rows, "checkpoints": r.checkpoints} for r in results]}, indent=1))
        print(f"plot: {png}; figures: {out_dir / 'loop.json'}")
        last = main.rows[-1]
        ap = last["ap50"] if last["ap50"] is not None else 0.0
        print(f"loop: round {last['round']} costs {last['ratio']:.2f} of drawing-only (AP50 {ap:.2f})")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0
