"""detectron2 / mmdetection checkpoint file -> rnxstudio checkpoint (safetensors + sidecar).

:func:`import_weights` is the one entry point (CLI ``rnxstudio weights import``, the GUI's
"Import detectron2 / mmdetection checkpoint..."): read the file safely, rename and re-lay the
tensors for torchvision, read the architecture off their shapes, build that model with the
original framework's conventions, load with every key and shape checked, save.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnxstudio import __version__
from rnxstudio.ml.convert import catalog, keymap
from rnxstudio.ml.convert.arch import RGB_MEAN, RGB_STD, ExternalArch, infer_arch, zoo_name_for
from rnxstudio.ml.convert.catalog import ExternalWeights, Progress
from rnxstudio.ml.convert.safe_pickle import UnsafePickleError, load_detectron2_pkl

FORMATS = ("auto", "detectron2", "mmdet")
TEST_MIN_SIZE, TEST_MAX_SIZE = 800, 1333  # both frameworks' COCO test resize


class ConversionError(Exception):
    """A file that cannot be converted; ``path`` names it and the message says why."""

    def __init__(self, path: str | os.PathLike, message: str):
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


@dataclass
class Source:
    """A checkpoint read into torch tensors under the source framework's names."""

    path: Path
    framework: str
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)


def detect_format(path: Path) -> str:
    """"detectron2" for a pickle of arrays (.pkl), "mmdet" for a torch file (.pth / .pt / zip)."""
    if path.suffix == ".pkl":
        return "detectron2"
    if path.suffix in (".pth", ".pt") or zipfile.is_zipfile(path):
        return "mmdet"
    raise ConversionError(path, "cannot tell the format from the name: pass --format detectron2 (a .pkl of numpy "
                                "arrays) or --format mmdet (a torch .pth)")


def read_source(path: Path, framework: str) -> Source:
    """The file's tensors, read without running any code from it."""
    if framework == "detectron2":
        try:
            arrays, meta = load_detectron2_pkl(path)
        except UnsafePickleError as exc:
            raise ConversionError(path, str(exc)) from exc
        except ValueError as exc:
            raise ConversionError(path, f"not a detectron2 checkpoint: {exc}") from exc
        tensors = {}
        for k, v in arrays.items():
            if v.dtype.kind not in "fiub":
                raise ConversionError(path, f"{k}: unsupported dtype {v.dtype}")
            tensors[k] = torch.from_numpy(np.array(v, copy=True))
        return Source(path, framework, tensors, meta)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConversionError(path, "refused: the file holds pickled Python objects beyond tensors and plain "
                                    f"metadata; nothing from it was executed ({detail[:160]})") from exc
    except (EOFError, RuntimeError, ValueError, zipfile.BadZipFile) as exc:
        raise ConversionError(path, f"truncated or not a torch file ({type(exc).__name__}: {exc})") from exc
    meta = obj.get("meta") if isinstance(obj, dict) and isinstance(obj.get("meta"), dict) else {}
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ConversionError(path, f"expected a state dict, found {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ConversionError(path, f"{bad[0]}: not a tensor ({type(obj[bad[0]]).__name__})")
    return Source(path, framework, dict(obj), meta)


def _mmdet_classes(meta: dict[str, Any]) -> list[str] | None:
    classes = meta.get("CLASSES") or (meta.get("dataset_meta") or {}).get("classes")
    if isinstance(classes, (list, tuple)) and all(isinstance(c, str) for c in classes):
        return list(classes)
    return None


def _mmdet_bgr(meta: dict[str, Any]) -> bool | None:
    """True/False when the checkpoint's embedded config text says BGR / RGB input, else None."""
    text = meta.get("config")
    if not isinstance(text, str):
        return None
    if re.search(r"\b(bgr_to_rgb|to_rgb)\s*=\s*False", text):
        return True
    if re.search(r"\b(bgr_to_rgb|to_rgb)\s*=\s*True", text):
        return False
    return None


def _normalisation(source: Source, bgr: bool) -> tuple[tuple[float, ...], tuple[float, ...], list[str]]:
    """(RGB mean, RGB std) on the 0-1 scale torchvision's transform uses, plus warnings."""
    t = source.tensors
    if source.framework == "detectron2" and "pixel_mean" in t and "pixel_std" in t:
        mean = t["pixel_mean"].reshape(-1).double() / 255.0
        std = t["pixel_std"].reshape(-1).double() / 255.0
        if mean.numel() != 3 or std.numel() != 3:
            raise ConversionError(source.path, f"pixel_mean/pixel_std have {mean.numel()}/{std.numel()} values, expected 3")
        if bgr:
            mean, std = mean.flip(0), std.flip(0)
        return tuple(mean.tolist()), tuple(std.tolist()), []
    warn = []
    if source.framework == "detectron2":
        warn.append("no pixel_mean/pixel_std in the file: assumed detectron2's ImageNet values (X101 configs)")
    return RGB_MEAN, RGB_STD, warn


@dataclass
class Converted:
    """A converted state dict and what was decided on the way."""

    state: dict[str, torch.Tensor]
    origin: dict[str, str]  # torchvision name -> source name
    arch: ExternalArch
    num_classes: int
    bgr: bool
    warnings: list[str]


def convert(source: Source, *, bgr: bool | None = None) -> Converted:
    """Rename and re-lay ``source``'s tensors for torchvision (no model built yet)."""
    try:
        state, origin = keymap.rename(source.tensors, source.framework)
        k = keymap.head_to_torchvision(state, source.path.name)
    except keymap.KeyMapError as exc:
        raise ConversionError(source.path, str(exc)) from exc
    rpn_cls = state.get("rpn.head.cls_logits.weight")
    if rpn_cls is not None and rpn_cls.shape[0] == 6:
        raise ConversionError(source.path, f"{origin['rpn.head.cls_logits.weight']}: a softmax RPN (2 scores per "
                                           "anchor) is not supported; expected 3 sigmoid scores")
    if bgr is None:
        bgr = True if source.framework == "detectron2" else bool(_mmdet_bgr(source.meta))
    if bgr:
        keymap.swap_input_channels(state)
    mean, std, warnings = _normalisation(source, bgr)
    try:
        arch = infer_arch(state, source.path.name, framework=source.framework,
                          resize_style="pil" if source.framework == "detectron2" else "cv2",
                          postprocess=source.framework,
                          image_mean=mean, image_std=std)
        arch.validate()
    except (KeyError, ValueError) as exc:
        raise ConversionError(source.path, str(exc).strip("'\"")) from exc
    if source.framework == "detectron2" and arch.groups == 1:
        raise ConversionError(source.path, "a plain ResNet detectron2 model: those (MSRA) put the stride in the 1x1 "
                                           "conv, which torchvision's ResNet cannot express; only ResNeXt is converted")
    return Converted(state, origin, arch, k, bgr, warnings)


def load_checked(model: torch.nn.Module, conv: Converted, path: Path, framework: str) -> None:
    """Load ``conv.state`` into ``model``; refuse missing, unexpected or mis-shaped tensors by name."""
    own = model.state_dict()
    missing = [k for k in own if k not in conv.state and not k.endswith("num_batches_tracked")]
    if missing:
        names = ", ".join(keymap.source_name(k, framework) for k in missing[:5])
        raise ConversionError(path, f"missing tensors {names}" + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""))
    unexpected = [conv.origin.get(k, k) for k in conv.state if k not in own]
    if unexpected:
        raise ConversionError(path, f"tensors the architecture read from this file has no place for: {', '.join(unexpected[:5])}")
    for k, v in conv.state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ConversionError(path, f"{conv.origin.get(k, k)} has shape {tuple(v.shape)}, the model needs "
                                        f"{tuple(own[k].shape)}")
        if not v.is_floating_point():
            raise ConversionError(path, f"{conv.origin.get(k, k)}: expected floating-point values, found {v.dtype}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in conv.state.items()}, strict=False)


def _default_out(path: Path, entry: ExternalWeights | None) -> Path:
    if entry is not None:
        return catalog.converted_path(entry)
    return catalog.weights_dir() / f"{path.stem}.safetensors"


def import_weights(path: str | os.PathLike, out: str | os.PathLike | None = None, *, fmt: str = "auto",
                   class_names: list[str] | None = None, bgr: bool | None = None,
                   progress: Progress | None = None) -> Path:
    """Convert a detectron2 ``.pkl`` or mmdetection ``.pth`` Faster R-CNN into an rnxstudio checkpoint.

    Returns the written ``.safetensors`` path (its ``.json`` sidecar beside it). ``out`` defaults to
    ``<user data>/weights/<entry or file stem>.safetensors``. ``class_names`` default to the 80
    COCO names for an 80-class model (the file's own names for mmdetection files that carry
    them), else class_1..K. ``bgr`` overrides whether the network expects BGR input (default:
    detectron2 yes; mmdetection as the catalog entry or the embedded config says, else no).
    ``progress(stage, fraction)`` is called as work proceeds. Every failure is a
    :class:`ConversionError` naming the file and the problem; nothing is written then.
    """
    from rnxstudio.ml import zoo
    from rnxstudio.ml.checkpoint import CheckpointError, save_checkpoint

    p = Path(path)
    report = progress or (lambda stage, frac: None)
    if not p.is_file():
        raise ConversionError(p, "file not found")
    if fmt not in FORMATS:
        raise ConversionError(p, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    framework = detect_format(p) if fmt == "auto" else fmt
    entry = catalog.match_file(p)
    digest = catalog.sha256_file(p, report)
    if entry is not None:
        problem = entry.check_digest(digest)
        if problem:
            raise ConversionError(p, f"named like the published {entry.title} but {problem}: the file is truncated, "
                                     "corrupt or not the published one")
        if entry.framework != framework:
            raise ConversionError(p, f"this is a {entry.framework} file; --format {framework} does not fit")
        if bgr is None:
            bgr = entry.bgr
    report(f"reading {p.name}", 0.0)
    source = read_source(p, framework)
    if fmt == "auto" and framework == "mmdet" and any(k.startswith("backbone.bottom_up.") for k in source.tensors):
        source.framework = framework = "detectron2"  # a detectron2 training checkpoint saved with torch.save
    report("converting", 0.3)
    conv = convert(source, bgr=bgr)
    ids: list[int] | None = None
    if class_names is None:
        class_names = _mmdet_classes(source.meta) if framework == "mmdet" else None
        if class_names is None and conv.num_classes == len(catalog.COCO_IDS):
            class_names = catalog.coco_class_names()
        if class_names is None:
            class_names = [f"class_{i}" for i in range(1, conv.num_classes + 1)]
            conv.warnings.append(f"no class names given for {conv.num_classes} classes: named class_1..class_{conv.num_classes}")
    if len(class_names) != conv.num_classes:
        raise ConversionError(p, f"{len(class_names)} class names given, the model has {conv.num_classes} classes")
    if conv.num_classes == len(catalog.COCO_IDS) and list(class_names) == catalog.coco_class_names():
        ids = list(catalog.COCO_IDS)
    report("building the model", 0.5)
    built = zoo.build_model(zoo_name_for(conv.arch), num_classes=conv.num_classes, class_names=list(class_names),
                            pretrained_backbone=False, allow_download=False, external=conv.arch.to_dict(),
                            min_size=TEST_MIN_SIZE, max_size=TEST_MAX_SIZE)
    load_checked(built.model, conv, p, framework)
    built.weights_origin = f"converted:{framework}"
    built.category_ids = ids
    report("saving", 0.8)
    dest = Path(out) if out is not None else _default_out(p, entry)
    dest.parent.mkdir(parents=True, exist_ok=True)
    extra = {"imported": {
        "source_file": p.name, "source_sha256": digest, "framework": framework,
        "catalog_entry": entry.name if entry else None, "title": entry.title if entry else None,
        "url": entry.url if entry else None, "published_box_ap": entry.box_ap if entry else None,
        "licence": entry.licence if entry else "unknown: see where the file came from",
        "input_channels_swapped": conv.bgr, "converted_by": f"rnxstudio {__version__}",
        "warnings": conv.warnings,
    }, "inference": {
        "min_size": TEST_MIN_SIZE, "max_size": TEST_MAX_SIZE, "resize": conv.arch.resize_style,
        "anchors": "unrounded, strides 4/8/16/32/64", "roi_align": "aligned=True, sampling_ratio=0",
        "image_mean_rgb": list(conv.arch.image_mean), "image_std_rgb": list(conv.arch.image_std),
        "score_thresh": built.build_kwargs["score_thresh"], "nms_thresh": built.build_kwargs["nms_thresh"],
        "detections_per_img": built.build_kwargs["detections_per_img"],
    }}
    try:
        written = save_checkpoint(dest, built, category_ids=ids, extra=extra)
    except (CheckpointError, OSError) as exc:
        raise ConversionError(dest, f"cannot write the checkpoint ({exc})") from exc
    report("done", 1.0)
    return written


def converted_checkpoint(name: str, *, progress: Progress | None = None, allow_download: bool | None = None) -> Path:
    """The converted checkpoint for catalog entry ``name``: already there, or converted from the
    original file (downloaded first when allowed and online). Raises
    :class:`catalog.WeightsUnavailable` (with what to fetch and where to put it) or
    :class:`ConversionError`."""
    entry = catalog.get(name)
    done = catalog.converted_path(entry)
    if done.is_file():
        return done
    src = catalog.fetch(entry, progress=progress, allow_download=allow_download)
    return import_weights(src, done, progress=progress)
