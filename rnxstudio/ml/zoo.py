"""The detector zoo: one registry (:data:`MODELS`) and one keyword-only builder (:func:`build_model`).

Every member is a torchvision :class:`~torchvision.models.detection.FasterRCNN`. Normalisation
follows the weights: FrozenBatchNorm2d only when ImageNet backbone weights were really loaded,
GroupNorm when the backbone starts from random init (a frozen BN is an identity there).
Weights are looked up in the torch hub cache, downloaded only when allowed and reachable within a
few seconds, and otherwise the build goes on with random init and a warning saying where to put
the file. Nothing here ever blocks on the network for long.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN, _resnet_fpn_extractor
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from rnxstudio.ml import backbones as bb
from rnxstudio.ml.roi_pool import use_pooled_roi_align

DEFAULT_MODEL = "resnext50_32x4d_fpn"


@dataclass(frozen=True)
class ModelSpec:
    """A zoo member: what the UI lists and what :func:`build_model` needs to build it."""

    name: str
    title: str
    description: str
    arch: str  # torchvision resnet builder name, or "tiny"
    fpn: bool
    is_tiny: bool = False
    weights: str | None = None  # "EnumClass.MEMBER" in torchvision.models, None = none exist
    default_min_size: int = 800
    default_max_size: int = 1333
    coco_weights: str | None = None  # "EnumClass.MEMBER" in torchvision.models.detection
    # one anchor size per FPN level P2..P6 (or the sizes of the single C4 level)
    default_anchor_sizes: tuple[int, ...] = (32, 64, 128, 256, 512)
    # trained weights that ship with the app, relative to resources/ (ml/bundled.py loads them)
    bundled: str | None = None
    rebuild_command: str = ""  # how those weights were made (shown when the file is missing)

    def weights_enum(self) -> Any | None:
        """The torchvision weights enum member for the ImageNet backbone, or None."""
        return _enum(self.weights, "torchvision.models")

    def coco_weights_enum(self) -> Any | None:
        """torchvision's COCO-trained detector weights for this exact architecture, or None."""
        return _enum(self.coco_weights, "torchvision.models.detection")


def _enum(text: str | None, module: str) -> Any | None:
    if text is None:
        return None
    import importlib

    cls_name, member = text.split(".")
    return getattr(getattr(importlib.import_module(module), cls_name), member)


LEGACY_ANCHOR_SIZES = (32, 64, 128, 256, 512)  # torchvision's; every checkpoint without anchor_sizes
# The tiny model works on small CPU images (objects of roughly 10-120 px): anchors one octave
# smaller than torchvision's so 12-px objects still reach IoU >= 0.7 with some anchor on P2.
TINY_ANCHOR_SIZES = (16, 32, 64, 128, 256)
ASPECT_RATIOS = (0.5, 1.0, 2.0)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "resnext50_32x4d_fpn",
            "ResNeXt-50 32x4d + FPN (default)",
            "ResNeXt-50 (cardinality 32, 4 channels per group) with a feature pyramid (P2-P6). "
            "About 41 M parameters; roughly 3 s per 800-px image on a 2-core CPU. The best "
            "accuracy/cost balance of the zoo (mmdetection X101-32x4d 1x: 41.2 COCO AP vs R50 37.4).",
            "resnext50_32x4d", fpn=True, weights="ResNeXt50_32X4D_Weights.IMAGENET1K_V2",
        ),
        ModelSpec(
            "resnext101_32x8d_fpn",
            "ResNeXt-101 32x8d + FPN (large)",
            "ResNeXt-101 with 32 groups of 8 channels and FPN. About 105 M parameters and roughly "
            "2.5x the compute of the X50 model: a GPU model (detectron2 X101-32x8d-FPN: 43.0 AP).",
            "resnext101_32x8d", fpn=True, weights="ResNeXt101_32X8D_Weights.IMAGENET1K_V2",
        ),
        ModelSpec(
            "resnext101_64x4d_fpn",
            "ResNeXt-101 64x4d + FPN (large)",
            "ResNeXt-101 with 64 groups of 4 channels and FPN. About 100 M parameters, similar "
            "compute to 32x8d: a GPU model (mmdetection X101-64x4d 1x: 42.1 AP).",
            "resnext101_64x4d", fpn=True, weights="ResNeXt101_64X4D_Weights.IMAGENET1K_V1",
        ),
        ModelSpec(
            "resnet50_fpn",
            "ResNet-50 + FPN (baseline)",
            "Plain ResNet-50 with FPN: the comparison baseline for the ResNeXt models. About 41 M "
            "parameters, slightly cheaper than X50 (detectron2 R50-FPN 3x: 40.2 AP).",
            "resnet50", fpn=True, weights="ResNet50_Weights.IMAGENET1K_V2",
            coco_weights="FasterRCNN_ResNet50_FPN_Weights.COCO_V1",
        ),
        ModelSpec(
            "resnext50_32x4d_c4",
            "ResNeXt-50 32x4d, single map (C4-style, costly head)",
            "The seed article's design: ResNeXt-50 up to its last stage as one stride-32, 2048-channel "
            "map, a one-level anchor generator (5 sizes x 3 ratios) and RoIAlign on that map. Its box "
            "head fc6 is 2048*7*7 -> 1024, about 103 M parameters on its own, and the RPN's 3x3 conv on "
            "2048 channels adds 38 M: about 165 M in total, 4x the FPN model. With no pyramid, small "
            "objects suffer (ResNeXt paper, C4: X50 27.5 AP).",
            "resnext50_32x4d", fpn=False, weights="ResNeXt50_32X4D_Weights.IMAGENET1K_V2",
        ),
        ModelSpec(
            "resnext_tiny_fpn",
            "ResNeXt tiny + FPN (tiny — for tests and CPU demos)",
            "A deliberately small ResNeXt: one bottleneck per stage, cardinality 32 kept, narrow "
            "widths (64-512 channels), GroupNorm, 64-channel FPN and a 256-wide box head. About 1.6 M "
            "parameters, trains from scratch on the shapes demo in minutes on a CPU. No pretrained "
            "weights exist; not meant for real photos.",
            "tiny", fpn=True, is_tiny=True, weights=None, default_min_size=320, default_max_size=512,
            default_anchor_sizes=TINY_ANCHOR_SIZES,
        ),
        ModelSpec(
            "demo",
            "Demo detector (tiny ResNeXt, trained on synthetic shapes)",
            "The tiny ResNeXt-FPN trained on generated scenes of five shapes (circle, square, triangle, "
            "star, ring), shipped with the app so the demo project works offline. It knows only those "
            "shapes on those backgrounds: it is for trying the label -> pre-label -> fine-tune loop, "
            "not for real photos. Trained by `python -m rnxstudio.ml.demo_model` (command, data seed "
            "and validation metrics are in resources/models/demo_shapes.json).",
            "tiny", fpn=True, is_tiny=True, default_min_size=256, default_max_size=416,
            default_anchor_sizes=TINY_ANCHOR_SIZES, bundled="models/demo_shapes.safetensors",
            rebuild_command="python -m rnxstudio.ml.demo_model --out resources/models",
        ),
    )
}

TINY_FPN_CHANNELS = 64
TINY_REPRESENTATION = 256


@dataclass
class BuiltModel:
    """A built detector plus everything needed to describe, save and rebuild it."""

    model: FasterRCNN
    spec: ModelSpec
    class_names: list[str]  # index i <-> model label i + 1 (label 0 is background)
    norm: str  # "frozen_bn" | "gn" | "bn"
    weights_origin: str  # "pretrained-backbone" | "random" | "checkpoint:<path>" | "coco"
    warnings: list[str] = field(default_factory=list)
    build_kwargs: dict[str, Any] = field(default_factory=dict)
    category_ids: list[int] | None = None  # COCO category id per class (checkpoints keep these)
    info: dict[str, Any] = field(default_factory=dict)  # checkpoint sidecar contents, if any

    @property
    def num_classes(self) -> int:
        """Foreground classes (background not counted)."""
        return len(self.class_names)

    @property
    def is_random(self) -> bool:
        """True when no learned weights at all were loaded (boxes are meaningless)."""
        return self.weights_origin == "random"


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def _fetch_weights(url: str, allow_download: bool | None) -> tuple[dict[str, torch.Tensor] | None, Path, str]:
    """(state dict or None, hub cache path, reason it is missing) for a torchvision weights URL."""
    path = bb.hub_checkpoint_path(url)
    reason = ""
    if not path.is_file():
        if bb.downloads_allowed(allow_download):
            reason = bb.try_download(url, path) or ""
        else:
            reason = f"downloads disabled ({bb.NO_DOWNLOAD_ENV}=1 or allow_download=False)"
    if path.is_file():
        try:
            return bb.read_state_dict(path), path, ""
        except Exception as exc:  # noqa: BLE001 - a damaged cache file falls back like a missing one
            reason = f"cached file is unreadable ({exc}); delete it and retry"
    return None, path, reason


def _find_imagenet_state(spec: ModelSpec, backbone_weights_path: str | None,
                         allow_download: bool | None) -> tuple[dict[str, torch.Tensor] | None, str, list[str]]:
    """Return (state dict or None, source text, warnings) for the spec's ImageNet backbone."""
    if backbone_weights_path:
        try:
            return bb.read_state_dict(backbone_weights_path), str(backbone_weights_path), []
        except Exception as exc:
            raise ValueError(f"cannot read backbone weights {backbone_weights_path}: {exc}") from exc
    enum = spec.weights_enum()
    if enum is None:
        return None, "", [f"{spec.name}: no pretrained backbone weights exist for this model; random init"]
    state, path, reason = _fetch_weights(enum.url, allow_download)
    if state is not None:
        return state, str(path), []
    warning = (
        f"{spec.name}: ImageNet backbone weights not available ({reason}). Built with RANDOM init and "
        f"GroupNorm. To use pretrained weights put {path.name} ({enum.url}) at {path}, or pass "
        f"--backbone-weights FILE (a .pth/.safetensors ResNet state dict)."
    )
    return None, "", [warning]


def _make_resnet(spec: ModelSpec, norm_layer) -> nn.Module:
    if spec.arch == "tiny":
        return bb.TinyResNeXt(norm_layer)
    return tv_resnet.__dict__[spec.arch](weights=None, norm_layer=norm_layer)


def _tiny_fpn(body: nn.Module, trainable_layers: int) -> BackboneWithFPN:
    bb.freeze_stages(body, trainable_layers)
    return BackboneWithFPN(
        body,
        return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
        in_channels_list=list(bb.TINY_OUT_CHANNELS),
        out_channels=TINY_FPN_CHANNELS,
        extra_blocks=LastLevelMaxPool(),
    )


def build_model(
    name: str = DEFAULT_MODEL,
    *,
    num_classes: int,
    class_names: list[str] | None = None,
    pretrained_backbone: bool = True,
    backbone_weights_path: str | None = None,
    trainable_layers: int | None = None,
    min_size: int | tuple[int, ...] | None = None,
    max_size: int | None = None,
    score_thresh: float = 0.05,
    nms_thresh: float = 0.5,
    detections_per_img: int = 100,
    norm: str | None = None,
    allow_download: bool | None = None,
    coco_weights: bool = False,
    anchor_sizes: tuple[int, ...] | list[int] | None = None,
    external: dict[str, Any] | None = None,
) -> BuiltModel:
    """Build zoo member ``name`` for ``num_classes`` foreground classes (background added here).

    ``min_size``/``max_size`` default to the spec's sizes (800/1333; 320/512 for the tiny model).
    ``trainable_layers`` (0-5 backbone stages) defaults to 3 with pretrained weights, 5 without.
    ``norm`` None picks frozen_bn when ImageNet weights were loaded, else gn. ``allow_download``
    None means "unless RNXSTUDIO_NO_DOWNLOAD=1". ``coco_weights`` (resnet50_fpn only) loads
    torchvision's COCO-trained detector when cached or downloadable: its 90-label head is kept when
    ``class_names`` is None and ``num_classes`` is 90, else replaced; when unavailable the build
    falls back to the ImageNet path with a warning. ``anchor_sizes`` (one per FPN level P2-P6, or
    any number for the C4 model) defaults to the spec's (16-256 for the tiny model, 32-512 for the
    others) and is recorded in ``build_kwargs``. ``external`` (a converted detectron2 / mmdetection
    model's widths and conventions, see :mod:`rnxstudio.ml.convert.arch`) builds that architecture
    instead, with no backbone weights. Raises KeyError for an unknown name and
    ValueError for bad arguments or a backbone weights file that does not fit.
    """
    spec = get_spec(name)
    if spec.bundled:  # shipped trained weights: loading them is rnxstudio.ml.resolve's job
        return _bundled_architecture(spec)
    if coco_weights:
        built = _build_coco(spec, num_classes=num_classes, class_names=class_names,
                            trainable_layers=trainable_layers, min_size=min_size, max_size=max_size,
                            score_thresh=score_thresh, nms_thresh=nms_thresh,
                            detections_per_img=detections_per_img, allow_download=allow_download)
        if isinstance(built, BuiltModel):
            return built
        fallback = build_model(name, num_classes=num_classes, class_names=class_names,
                               pretrained_backbone=pretrained_backbone, backbone_weights_path=backbone_weights_path,
                               trainable_layers=trainable_layers, min_size=min_size, max_size=max_size,
                               score_thresh=score_thresh, nms_thresh=nms_thresh,
                               detections_per_img=detections_per_img, norm=norm, allow_download=allow_download,
                               anchor_sizes=anchor_sizes)
        fallback.warnings.insert(0, built)
        return fallback
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if class_names is None:
        class_names = [f"class_{i}" for i in range(1, num_classes + 1)]
    class_names = [str(c) for c in class_names]
    if len(class_names) != num_classes:
        raise ValueError(f"num_classes={num_classes} but {len(class_names)} class names given")
    anchors_t = _anchor_sizes(spec, anchor_sizes)
    if norm is not None and norm not in bb.NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(bb.NORMS)}")
    if external is not None:
        from rnxstudio.ml.convert.arch import build_external_model

        model, shown, build_kwargs = build_external_model(
            spec, external, num_classes=num_classes, class_names=class_names, trainable_layers=trainable_layers,
            min_size=min_size, max_size=max_size, score_thresh=score_thresh, nms_thresh=nms_thresh,
            detections_per_img=detections_per_img, norm=norm, anchor_sizes=anchors_t)
        return BuiltModel(model=model, spec=shown, class_names=list(class_names), norm=build_kwargs["norm"],
                          weights_origin="random", build_kwargs=build_kwargs)

    warnings: list[str] = []
    state, source = None, ""
    if pretrained_backbone or backbone_weights_path:
        state, source, w = _find_imagenet_state(spec, backbone_weights_path, allow_download)
        warnings += w
    loaded = state is not None
    norm = norm or ("frozen_bn" if loaded else "gn")
    if norm == "frozen_bn" and not loaded:
        warnings.append(
            "FrozenBatchNorm with a randomly initialised backbone is an identity (no normalisation); "
            "training will be poor: use norm='gn'"
        )
    if trainable_layers is None:
        trainable_layers = 3 if loaded else 5

    resnet = _make_resnet(spec, bb.norm_factory(norm))
    if loaded:
        if norm == "gn":
            warnings.append(f"{spec.name}: GroupNorm requested: loaded convolution weights only; "
                            "norm layers start fresh")
        warnings += bb.load_backbone_weights(resnet, state, source, conv_only=(norm == "gn"))

    min_size = spec.default_min_size if min_size is None else min_size
    max_size = spec.default_max_size if max_size is None else max_size
    common = dict(
        num_classes=num_classes + 1, min_size=min_size, max_size=max_size,
        box_score_thresh=score_thresh, box_nms_thresh=nms_thresh, box_detections_per_img=detections_per_img,
    )
    if spec.fpn:
        common["rpn_anchor_generator"] = AnchorGenerator(sizes=tuple((a,) for a in anchors_t),
                                                         aspect_ratios=(ASPECT_RATIOS,) * len(anchors_t))
    if spec.arch == "tiny":
        backbone = _tiny_fpn(resnet, trainable_layers)
        head = TwoMLPHead(TINY_FPN_CHANNELS * 7 * 7, TINY_REPRESENTATION)
        model = FasterRCNN(backbone, box_head=head,
                           box_predictor=FastRCNNPredictor(TINY_REPRESENTATION, num_classes + 1),
                           **{**common, "num_classes": None})
    elif spec.fpn:
        backbone = _resnet_fpn_extractor(resnet, trainable_layers)
        model = FasterRCNN(backbone, **common)
    else:
        bb.freeze_stages(resnet, trainable_layers)
        trunk = bb.C4Trunk(resnet)
        anchors = AnchorGenerator(sizes=(anchors_t,), aspect_ratios=(ASPECT_RATIOS,))
        roi_pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
        model = FasterRCNN(trunk, rpn_anchor_generator=anchors, box_roi_pool=roi_pool, **common)
    # same pooling, much faster backward when training on the CPU (ml/roi_pool.py)
    use_pooled_roi_align(model)

    build_kwargs = dict(
        name=spec.name, num_classes=num_classes, class_names=list(class_names),
        trainable_layers=trainable_layers, min_size=list(min_size) if isinstance(min_size, tuple) else min_size,
        max_size=max_size, score_thresh=score_thresh, nms_thresh=nms_thresh,
        detections_per_img=detections_per_img, norm=norm, anchor_sizes=list(anchors_t),
    )
    return BuiltModel(
        model=model, spec=spec, class_names=list(class_names), norm=norm,
        weights_origin="pretrained-backbone" if loaded else "random",
        warnings=warnings, build_kwargs=build_kwargs,
    )


def _anchor_sizes(spec: ModelSpec, sizes: tuple[int, ...] | list[int] | None) -> tuple[int, ...]:
    """Validated anchor sizes for ``spec`` (its default when ``sizes`` is None)."""
    if sizes is None:
        return tuple(spec.default_anchor_sizes)
    try:
        out = tuple(int(a) for a in sizes)
    except (TypeError, ValueError):
        raise ValueError(f"anchor_sizes must be a list of positive integers, got {sizes!r}") from None
    if not out or any(a <= 0 for a in out):
        raise ValueError(f"anchor_sizes must be a list of positive integers, got {sizes!r}")
    if spec.fpn and len(out) != len(LEGACY_ANCHOR_SIZES):
        raise ValueError(f"{spec.name}: anchor_sizes needs one size per FPN level (P2-P6): "
                         f"{len(LEGACY_ANCHOR_SIZES)} values, got {len(out)}")
    return out


def _build_coco(spec: ModelSpec, *, num_classes: int, class_names: list[str] | None,
                allow_download: bool | None, **kw: Any) -> BuiltModel | str:
    """torchvision's COCO detector as a BuiltModel, or the warning text when it is unavailable."""
    enum = spec.coco_weights_enum()
    if enum is None:
        with_coco = [m.name for m in MODELS.values() if m.coco_weights]
        raise ValueError(f"{spec.name} has no COCO-trained weights (only {', '.join(with_coco)})")
    state, path, reason = _fetch_weights(enum.url, allow_download)
    if state is None:
        return (f"{spec.name}: COCO weights not available ({reason}); put {path.name} ({enum.url}) at "
                f"{path}. Falling back to the ImageNet backbone.")
    coco_names = [str(c) for c in enum.meta["categories"][1:]]
    if kw.get("trainable_layers") is None:
        kw["trainable_layers"] = 3
    built = build_model(spec.name, num_classes=len(coco_names), class_names=coco_names,
                        pretrained_backbone=False, norm="frozen_bn", **kw)
    try:
        built.model.load_state_dict(state)
    except RuntimeError as exc:
        return f"{path}: COCO weights do not fit {spec.name} ({str(exc).splitlines()[0]})"
    built.weights_origin, built.warnings = "coco", []
    built.category_ids = list(range(1, len(coco_names) + 1))  # torchvision label == COCO category id
    if class_names is not None or num_classes != len(coco_names):
        names = class_names or [f"class_{i}" for i in range(1, num_classes + 1)]
        built = replace_predictor(built, names)
        built.warnings.append("COCO backbone, FPN and RPN kept; new box predictor for your classes")
    return built


def _bundled_architecture(spec: ModelSpec) -> BuiltModel:
    """A member whose trained weights ship with the app, built here only as an architecture on
    the meta device (architecture tables): its sidecar says how. Anywhere else a random-weight
    copy would be a trap (it looks like the demo model and detects nothing), so this refuses
    and names the way that loads the weights (:func:`rnxstudio.ml.resolve.resolve`)."""
    import json

    from rnxstudio.core.paths import resources_dir

    if torch.get_default_device().type != "meta":
        raise ValueError(f"{spec.name} is a trained model that ships with the app; load it with "
                         f"rnxstudio.ml.resolve.resolve({spec.name!r}) (the app and every command do)")
    sidecar = (resources_dir() / spec.bundled).with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{spec.name}: cannot read {sidecar} ({exc}); rebuild it with: "
                         f"{spec.rebuild_command or 'see docs/training.md'}") from exc
    kw = rebuild_kwargs(meta["build_kwargs"])
    kw.pop("trainable_layers", None)
    return build_model(kw.pop("name"), **kw)


def rebuild_kwargs(build_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``build_kwargs`` (e.g. from a checkpoint sidecar) as arguments that rebuild the same
    architecture without fetching any backbone weights."""
    kw = dict(build_kwargs)
    if isinstance(kw.get("min_size"), list):
        kw["min_size"] = tuple(kw["min_size"])
    if isinstance(kw.get("anchor_sizes"), list):
        kw["anchor_sizes"] = tuple(kw["anchor_sizes"])
    kw["pretrained_backbone"] = False
    kw["backbone_weights_path"] = None
    return kw


def replace_predictor(built: BuiltModel, class_names: list[str]) -> BuiltModel:
    """Give ``built`` a fresh box predictor for ``class_names``; backbone, FPN and RPN are kept.

    The model object is modified in place and returned inside a new BuiltModel whose
    ``class_names`` and ``build_kwargs`` describe the new head.
    """
    names = [str(c) for c in class_names]
    if not names:
        raise ValueError("replace_predictor needs at least one class name")
    old = built.model.roi_heads.box_predictor
    in_features = old.cls_score.in_features
    new = FastRCNNPredictor(in_features, len(names) + 1)
    device = old.cls_score.weight.device
    built.model.roi_heads.box_predictor = new.to(device)
    kwargs = {**built.build_kwargs, "num_classes": len(names), "class_names": list(names)}
    return dataclasses.replace(built, class_names=list(names), build_kwargs=kwargs,
                               warnings=list(built.warnings), category_ids=None)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def describe(built: BuiltModel) -> "OrderedDict[str, str]":
    """Short human-readable facts (UI tooltips, CLI headers)."""
    info: OrderedDict[str, str] = OrderedDict()
    info["model"] = built.spec.title
    info["classes"] = ", ".join(built.class_names)
    info["weights"] = built.weights_origin
    info["norm"] = built.norm
    info["parameters"] = f"{count_parameters(built.model) / 1e6:.1f} M"
    info["trainable"] = f"{count_parameters(built.model, trainable_only=True) / 1e6:.1f} M"
    return info
