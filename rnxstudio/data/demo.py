"""Deterministic synthetic detection data: the demo project, the test fixtures and the
"shapes benchmark" all come from here.

Scenes are textured, noisy backgrounds with five shape classes (circle, square, triangle,
star, ring) in varied colours and sizes (12–120 px), with partial overlaps and a few empty
images. Everything is a pure function of the seed: the same seed gives identical PNG bytes and
identical JSON.

A sixth shape, ``cross``, is drawn only when asked for (``classes=DEMO_CLASSES``): the demo
project includes it so that a fine-tune has a class to learn that the shipped demo detector
(trained on the five :data:`CLASSES`) has never seen. Four more (hexagon, diamond, arrow, tee)
complete :data:`UNSEEN_CLASSES`, a whole task the demo detector has never seen: the loop
benchmark labels it starting from that detector, as a person starts from COCO weights on their
own classes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rnxstudio.data.atomic import atomic_write_bytes, atomic_write_text

CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "ring")
NEW_CLASS = "cross"  # drawn only when asked for: the class the demo detector does not know
# five shapes the demo detector never saw (the loop benchmark's default task); appended after the
# original six so that every seed still draws the scenes it always drew
UNSEEN_CLASSES: tuple[str, ...] = (NEW_CLASS, "hexagon", "diamond", "arrow", "tee")
SHAPES: tuple[str, ...] = CLASSES + UNSEEN_CLASSES  # every shape the generator can draw
MIN_SIZE, MAX_SIZE = 12, 120
GENERATOR_VERSION = 1  # bump when the scenes a seed gives change (recorded in each COCO file's info)
DEMO_SEED = 20261125
DEMO_VERSION = 2  # bump when the demo's content changes; each version gets its own folder
# the demo project: the five known shapes plus the new one, which makes up about a third of the
# objects so that a short fine-tune sees enough of it; half of the images come verified (80: the
# fine-tune's 12 default epochs take about 1.3 minutes on the 2-core CPU, docs/training.md)
DEMO_CLASSES: tuple[str, ...] = CLASSES + (NEW_CLASS,)
DEMO_CLASS_WEIGHTS: tuple[float, ...] = (0.14, 0.14, 0.14, 0.14, 0.14, 0.30)
DEMO_IMAGES, DEMO_SIZE = 160, 320


@dataclass(frozen=True)
class Shape:
    cls: int  # index into SHAPES
    cx: float
    cy: float
    size: float  # outer diameter / side in px
    angle: float  # degrees
    color: tuple[int, int, int]  # RGB

    def bbox(self, width: int, height: int) -> tuple[float, float, float, float]:
        """Tight xyxy box of the drawn shape, clipped to the image."""
        pts = _outline(self)
        x1, y1 = pts.min(axis=0)
        x2, y2 = pts.max(axis=0)
        return (
            float(max(0.0, x1)),
            float(max(0.0, y1)),
            float(min(width, x2)),
            float(min(height, y2)),
        )


def _polygon(cx: float, cy: float, radii: list[float], angle: float) -> np.ndarray:
    n = len(radii)
    a0 = math.radians(angle)
    pts = [
        (cx + r * math.cos(a0 + 2 * math.pi * i / n), cy + r * math.sin(a0 + 2 * math.pi * i / n))
        for i, r in enumerate(radii)
    ]
    return np.array(pts, dtype=np.float64)


_A = 0.34  # the cross's half arm width, in units of r
_LOCAL_OUTLINES: dict[str, list[tuple[float, float]]] = {
    "cross": [(_A, 1), (_A, _A), (1, _A), (1, -_A), (_A, -_A), (_A, -1), (-_A, -1), (-_A, -_A),
              (-1, -_A), (-1, _A), (-_A, _A), (-_A, 1)],  # a plus sign
    "diamond": [(0, -1), (0.55, 0), (0, 1), (-0.55, 0)],  # a rhombus, taller than wide
    "arrow": [(-1, -0.22), (0.15, -0.22), (0.15, -0.62), (1, 0), (0.15, 0.62), (0.15, 0.22), (-1, 0.22)],
    "tee": [(-1, -1), (1, -1), (1, -0.45), (0.28, -0.45), (0.28, 1), (-0.28, 1), (-0.28, -0.45), (-1, -0.45)],
}


def _outline(s: Shape) -> np.ndarray:
    r = s.size / 2.0
    name = SHAPES[s.cls]
    if name in ("circle", "ring"):
        t = np.linspace(0, 2 * math.pi, 64, endpoint=False)
        return np.stack([s.cx + r * np.cos(t), s.cy + r * np.sin(t)], axis=1)
    if name == "square":
        return _polygon(s.cx, s.cy, [r * math.sqrt(2)] * 4, s.angle + 45) * 1.0
    if name == "triangle":
        return _polygon(s.cx, s.cy, [r] * 3, s.angle - 90)
    if name == "hexagon":
        return _polygon(s.cx, s.cy, [r] * 6, s.angle)
    local = _LOCAL_OUTLINES.get(name)
    if local is not None:  # outlines in units of r around the centre, turned by the angle
        t = math.radians(s.angle)
        rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        return (np.asarray(local, dtype=np.float64) * r) @ rot.T + np.array([s.cx, s.cy])
    # star: 5 outer + 5 inner points
    return _polygon(s.cx, s.cy, [r, r * 0.45] * 5, s.angle - 90)


# drawing uses a fixed-point shift so sub-pixel geometry is rendered faithfully
_SHIFT = 4
_SCALE = 1 << _SHIFT


def _draw(canvas: np.ndarray, s: Shape) -> None:
    color = tuple(int(c) for c in s.color)
    name = SHAPES[s.cls]
    center = (int(round(s.cx * _SCALE)), int(round(s.cy * _SCALE)))
    r = s.size / 2.0
    if name == "circle":
        cv2.circle(canvas, center, int(round(r * _SCALE)), color, -1, cv2.LINE_AA, _SHIFT)
    elif name == "ring":
        thickness = max(2, int(round(r * 0.35)))
        inner = r - thickness / 2.0
        cv2.circle(canvas, center, int(round(inner * _SCALE)), color, thickness, cv2.LINE_AA, _SHIFT)
    else:
        pts = np.round(_outline(s) * _SCALE).astype(np.int32)
        cv2.fillPoly(canvas, [pts], color, cv2.LINE_AA, _SHIFT)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Smooth random colour field + stripes/blobs + pixel noise: texture without objects."""
    low = rng.uniform(40, 215, size=(4, 4, 3)).astype(np.float32)
    bg = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    freq = rng.uniform(0.02, 0.12)
    theta = rng.uniform(0, math.pi)
    stripes = np.sin((xx * math.cos(theta) + yy * math.sin(theta)) * freq) * rng.uniform(5, 25)
    bg += stripes[..., None]
    bg += rng.normal(0, rng.uniform(3, 12), size=bg.shape).astype(np.float32)
    return np.clip(bg, 0, 255).astype(np.uint8)


def _random_shape(rng: np.random.Generator, width: int, height: int, max_size: float,
                  classes: tuple[int, ...] = tuple(range(len(CLASSES))),
                  weights: tuple[float, ...] | None = None) -> Shape:
    """A random shape of one of ``classes`` (indices into SHAPES), uniform or by ``weights``.
    The five original classes drawn uniformly take the same random numbers as before the sixth
    shape existed, so every seed still gives the scenes it always gave."""
    size = float(rng.uniform(MIN_SIZE, max(MIN_SIZE + 1, max_size)))
    margin = size * 0.3
    cx = float(rng.uniform(margin, width - margin))
    cy = float(rng.uniform(margin, height - margin))
    hue = int(rng.integers(0, 180))
    hsv = np.uint8([[[hue, int(rng.integers(150, 256)), int(rng.integers(150, 256))]]])
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    pick = int(rng.integers(0, len(classes))) if weights is None else int(rng.choice(len(classes), p=weights))
    return Shape(
        cls=classes[pick],
        cx=cx,
        cy=cy,
        size=size,
        angle=float(rng.uniform(0, 360)),
        color=(int(rgb[0]), int(rgb[1]), int(rgb[2])),
    )


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def make_scene(
    rng: np.random.Generator, width: int, height: int, n_objects: int,
    classes: tuple[int, ...] = tuple(range(len(CLASSES))), weights: tuple[float, ...] | None = None,
) -> tuple[np.ndarray, list[tuple[int, tuple[float, float, float, float]]]]:
    """One scene: RGB image and its objects as (index into SHAPES, xyxy). Overlap is allowed but
    limited (IoU <= 0.3 between any two boxes) so every object stays recognisable."""
    img = _background(rng, width, height)
    max_size = min(MAX_SIZE, 0.6 * min(width, height))
    objects: list[tuple[int, tuple[float, float, float, float]]] = []
    shapes: list[Shape] = []
    tries = 0
    while len(shapes) < n_objects and tries < n_objects * 20:
        tries += 1
        s = _random_shape(rng, width, height, max_size, classes, weights)
        box = s.bbox(width, height)
        if box[2] - box[0] < 4 or box[3] - box[1] < 4:
            continue
        if any(_iou(box, other) > 0.3 for _, other in objects):
            continue
        shapes.append(s)
        objects.append((s.cls, box))
    for s in shapes:
        _draw(img, s)
    return img, objects


def encode_png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def coco_categories(classes: tuple[str, ...] = CLASSES) -> list[dict]:
    return [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(classes)]


def _class_indices(classes: tuple[str, ...], weights: tuple[float, ...] | None) -> tuple[tuple[int, ...], tuple[float, ...] | None]:
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct names from {', '.join(SHAPES)}; got {list(classes)}")
    if weights is None:
        return tuple(SHAPES.index(c) for c in classes), None
    if len(weights) != len(classes) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"class_weights needs one non-negative weight per class ({len(classes)}), got {list(weights)}")
    total = float(sum(weights))
    return tuple(SHAPES.index(c) for c in classes), tuple(float(w) / total for w in weights)


def make_shapes_dataset(
    n: int,
    size: int | tuple[int, int] = 256,
    seed: int = 0,
    out_dir: str | Path | None = None,
    *,
    max_objects: int = 6,
    empty_every: int = 10,
    classes: tuple[str, ...] = CLASSES,
    class_weights: tuple[float, ...] | None = None,
) -> dict:
    """Generate ``n`` scenes of ``size`` (int = square, or (width, height)) from ``seed``.

    Returns a COCO dict (images, annotations, categories); with ``out_dir`` the images are
    written there as ``shape_00000.png``… and the dict as ``annotations.json``. Every
    ``empty_every``-th image (index 0 mod empty_every, except index 0) has no objects.
    ``classes`` (names from :data:`SHAPES`, category ids 1.. in this order) are drawn uniformly,
    or in proportion to ``class_weights``.
    """
    width, height = (size, size) if isinstance(size, int) else size
    shape_ids, weights = _class_indices(tuple(classes), class_weights)
    category_of = {k: i + 1 for i, k in enumerate(shape_ids)}
    rng = np.random.default_rng(seed)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    ann_id = 1
    for i in range(n):
        empty = empty_every > 0 and i > 0 and i % empty_every == 0
        n_obj = 0 if empty else int(rng.integers(1, max_objects + 1))
        img, objects = make_scene(rng, width, height, n_obj, shape_ids, weights)
        file_name = f"shape_{i:05d}.png"
        images.append({"id": i + 1, "file_name": file_name, "width": width, "height": height})
        for cls, (x1, y1, x2, y2) in objects:
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {
                    "id": ann_id,
                    "image_id": i + 1,
                    "category_id": category_of[cls],
                    "bbox": [round(x1, 3), round(y1, 3), round(w, 3), round(h, 3)],
                    "area": round(w * h, 3),
                    "iscrowd": 0,
                }
            )
            ann_id += 1
        if out is not None:
            atomic_write_bytes(out / file_name, encode_png(img))
    coco = {
        "info": {"description": f"rnxstudio synthetic shapes, seed {seed}", "version": str(GENERATOR_VERSION)},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": coco_categories(tuple(classes)),
    }
    if out is not None:
        atomic_write_text(out / "annotations.json", json.dumps(coco, indent=1, sort_keys=True))
    return coco


def make_shapes_video(
    path: str | Path,
    n_frames: int = 150,
    size: tuple[int, int] = (320, 240),
    seed: int = 1,
    fps: float = 15.0,
    n_objects: int = 4,
) -> dict:
    """Write a short video of shapes moving over a fixed background, and return per-frame
    ground truth as COCO (one image per frame, ``frame_index`` recorded on each image).

    The codec is MJPG in an .avi container (always available in OpenCV builds), so frames
    decode exactly in order on every platform. The ground truth is also written next to the
    video as ``<stem>.json``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    rng = np.random.default_rng(seed)
    bg = _background(rng, width, height)
    max_size = min(70.0, 0.4 * min(width, height))
    shapes = [_random_shape(rng, width, height, max_size) for _ in range(n_objects)]
    velocity = [(float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3))) for _ in shapes]
    tmp = path.with_name(f".{path.name}.tmp.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot open an MJPG video writer")
    images, annotations = [], []
    ann_id = 1
    try:
        for f in range(n_frames):
            frame = bg.copy()
            for k, s in enumerate(shapes):
                vx, vy = velocity[k]
                r = s.size / 2
                nx, ny = s.cx + vx, s.cy + vy
                if not r <= nx <= width - r:
                    vx = -vx
                if not r <= ny <= height - r:
                    vy = -vy
                velocity[k] = (vx, vy)
                shapes[k] = Shape(s.cls, s.cx + vx, s.cy + vy, s.size, s.angle + 2.0, s.color)
            for k, s in enumerate(shapes):
                _draw(frame, s)
                x1, y1, x2, y2 = s.bbox(width, height)
                annotations.append(
                    {
                        "id": ann_id,
                        "image_id": f + 1,
                        "category_id": s.cls + 1,
                        "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                        "area": round((x2 - x1) * (y2 - y1), 3),
                        "iscrowd": 0,
                        "track_id": k + 1,
                    }
                )
                ann_id += 1
            images.append(
                {
                    "id": f + 1,
                    "file_name": f"{path.name}#{f:06d}",
                    "width": width,
                    "height": height,
                    "frame_index": f,
                    "timestamp": round(f / fps, 6),
                }
            )
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    tmp.replace(path)
    coco = {
        "info": {"description": f"rnxstudio synthetic shapes video, seed {seed}", "video": path.name, "fps": fps},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": coco_categories(),
    }
    atomic_write_text(path.with_suffix(".json"), json.dumps(coco, indent=1, sort_keys=True))
    return coco


def ensure_demo(root: str | Path, *, n_images: int = DEMO_IMAGES, size: int = DEMO_SIZE) -> Path:
    """Create the demo data under ``root`` if absent or outdated; return the images folder.

    Layout: ``root/images/*.png`` + ``root/images/annotations.json`` (ground truth for the six
    :data:`DEMO_CLASSES`) and ``root/video/shapes.avi`` + ``root/video/shapes.json``. A marker
    file records the version, so a half-written demo (killed mid-way) is regenerated on the next
    start.
    """
    root = Path(root)
    marker = root / "demo.json"
    if marker.is_file():
        try:
            if json.loads(marker.read_text()).get("version") == DEMO_VERSION:
                return root / "images"
        except (OSError, ValueError):
            pass
    make_shapes_dataset(n_images, size, DEMO_SEED, root / "images", classes=DEMO_CLASSES,
                        class_weights=DEMO_CLASS_WEIGHTS)
    make_shapes_video(root / "video" / "shapes.avi", seed=DEMO_SEED + 1)
    atomic_write_text(marker, json.dumps({"version": DEMO_VERSION, "seed": DEMO_SEED}))
    return root / "images"
