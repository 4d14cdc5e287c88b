"""The architecture of a converted detectron2 / mmdetection Faster R-CNN, as torchvision modules.

:class:`ExternalArch` holds what the weights alone decide (trunk depth and widths, FPN and box
head widths) and the conventions the original framework computed with (anchors, RoIAlign,
resize, pixel normalisation). It is stored under ``build_kwargs["external"]`` in the checkpoint
sidecar, so ``zoo.build_model(name, external=...)`` rebuilds the same model through the normal
checkpoint loader. :func:`infer_arch` reads it off a torchvision-named state dict.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.resnet import Bottleneck, ResNet
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from rnxstudio.ml import backbones as bb
from rnxstudio.ml.anchors import ANCHOR_STYLES, ExactAnchorGenerator
from rnxstudio.ml.convert.postprocess import STYLES as POSTPROCESS_STYLES
from rnxstudio.ml.convert.postprocess import ExactRoIHeads, ExactRPN
from rnxstudio.ml.resize import RESIZE_STYLES, ExactResizeTransform
from rnxstudio.ml.roi_pool import PooledRoIAlign

# torchvision's ImageNet normalisation (RGB, 0-1): detectron2's and mmdetection's X101 configs
# use the same numbers (times 255, BGR order for detectron2)
RGB_MEAN = (0.485, 0.456, 0.406)
RGB_STD = (0.229, 0.224, 0.225)
ASPECT_RATIOS = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class ExternalArch:
    """Shape and conventions of a converted model (see the module docstring)."""

    blocks: tuple[int, ...] = (3, 4, 23, 3)
    groups: int = 32
    width_per_group: int = 8  # channels per group in the first stage's 3x3 conv
    stem_channels: int = 64
    res2_channels: int = 256  # output channels of the first stage (x2 per stage)
    fpn_channels: int = 256
    representation_size: int = 1024
    anchor_style: str = "exact"
    roi_aligned: bool = True
    roi_sampling_ratio: int = 0
    resize_style: str = "pil"  # detectron2: PIL on uint8; mmdetection: OpenCV on uint8
    postprocess: str = "detectron2"  # proposal / detection filtering (ml/convert/postprocess.py)
    image_mean: tuple[float, float, float] = RGB_MEAN
    image_std: tuple[float, float, float] = RGB_STD
    framework: str = "detectron2"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def depth(self) -> int:
        return 3 * sum(self.blocks) + 2

    @property
    def title(self) -> str:
        kind = "ResNet" if self.groups == 1 else "ResNeXt"
        width = "" if self.groups == 1 else f" {self.groups}x{self.width_per_group}d"
        return f"{kind}-{self.depth}{width} + FPN ({self.framework}, converted)"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("extra")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | ExternalArch) -> ExternalArch:
        if isinstance(d, ExternalArch):
            return d
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown external architecture settings: {', '.join(unknown)}")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        arch = cls(**kw)
        arch.validate()
        return arch

    def validate(self) -> None:
        if len(self.blocks) != 4 or any(int(b) < 1 for b in self.blocks):
            raise ValueError(f"blocks must be 4 positive counts, got {self.blocks}")
        for name in ("groups", "width_per_group", "stem_channels", "res2_channels", "fpn_channels",
                     "representation_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.res2_channels % 4:
            raise ValueError(f"res2_channels must be a multiple of 4 (bottleneck expansion), got {self.res2_channels}")
        if self.anchor_style not in ANCHOR_STYLES:
            raise ValueError(f"anchor_style must be one of {ANCHOR_STYLES}, got {self.anchor_style!r}")
        if self.postprocess not in POSTPROCESS_STYLES:
            raise ValueError(f"postprocess must be one of {POSTPROCESS_STYLES}, got {self.postprocess!r}")
        if self.resize_style not in RESIZE_STYLES:
            raise ValueError(f"resize_style must be one of {RESIZE_STYLES}, got {self.resize_style!r}")
        if len(self.image_mean) != 3 or len(self.image_std) != 3 or min(self.image_std) <= 0:
            raise ValueError("image_mean and image_std need 3 values each (std > 0)")


def build_trunk(arch: ExternalArch, norm_layer) -> ResNet:
    """A torchvision ResNet (same module and parameter names) with ``arch``'s depth and widths.

    torchvision's Bottleneck has ``width = int(planes * base_width / 64) * groups`` channels in its
    3x3 conv and ``4 * planes`` outputs; detectron2/mmdetection describe the same block by
    ``groups * width_per_group`` and the stage's output channels.
    """
    planes = arch.res2_channels // 4
    base_width = arch.width_per_group * 64.0 / planes
    if int(planes * (base_width / 64.0)) != arch.width_per_group:
        raise ValueError(f"widths {arch.res2_channels}/{arch.groups}x{arch.width_per_group} do not fit a bottleneck")
    net = ResNet(Bottleneck, [1, 1, 1, 1], groups=arch.groups, width_per_group=base_width, norm_layer=norm_layer)
    net.inplanes = arch.stem_channels
    net.conv1 = nn.Conv2d(3, arch.stem_channels, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = norm_layer(arch.stem_channels)
    for i, n in enumerate(arch.blocks):
        setattr(net, f"layer{i + 1}", net._make_layer(Bottleneck, planes * 2 ** i, int(n), stride=1 if i == 0 else 2))
    net.fc = nn.Linear(net.inplanes, 1)  # never used: the FPN extractor stops at layer4
    return net


def build_detector(arch: ExternalArch, *, num_classes: int, norm: str, trainable_layers: int,
                   anchor_sizes: tuple[int, ...], min_size, max_size: int, score_thresh: float,
                   nms_thresh: float, detections_per_img: int) -> FasterRCNN:
    """The Faster R-CNN for ``arch`` with ``num_classes`` foreground classes (background added)."""
    resnet = build_trunk(arch, bb.norm_factory(norm))
    bb.freeze_stages(resnet, trainable_layers)
    backbone = BackboneWithFPN(
        resnet, return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
        in_channels_list=[arch.res2_channels * 2 ** i for i in range(4)],
        out_channels=arch.fpn_channels, extra_blocks=LastLevelMaxPool(),
    )
    if arch.anchor_style == "exact":
        anchors = ExactAnchorGenerator(tuple(anchor_sizes), ASPECT_RATIOS)
    else:
        from torchvision.models.detection.anchor_utils import AnchorGenerator

        anchors = AnchorGenerator(tuple((a,) for a in anchor_sizes), (ASPECT_RATIOS,) * len(anchor_sizes))
    pool = PooledRoIAlign(["0", "1", "2", "3"], 7, arch.roi_sampling_ratio, aligned=arch.roi_aligned)
    model = FasterRCNN(
        backbone, num_classes=None, rpn_anchor_generator=anchors, box_roi_pool=pool,
        box_head=TwoMLPHead(arch.fpn_channels * 7 * 7, arch.representation_size),
        box_predictor=FastRCNNPredictor(arch.representation_size, num_classes + 1),
        min_size=min_size, max_size=max_size, image_mean=list(arch.image_mean), image_std=list(arch.image_std),
        box_score_thresh=score_thresh, box_nms_thresh=nms_thresh, box_detections_per_img=detections_per_img,
    )
    model.rpn = ExactRPN.like(model.rpn, arch.postprocess)
    model.roi_heads = ExactRoIHeads.like(model.roi_heads, arch.postprocess)
    if arch.resize_style != "torchvision":
        t = model.transform
        model.transform = ExactResizeTransform(t.min_size, t.max_size, t.image_mean, t.image_std,
                                               style=arch.resize_style)
    return model


# --------------------------------------------------------------------------- reading the shapes


def _shape(state: dict[str, torch.Tensor], key: str, source: str) -> tuple[int, ...]:
    if key not in state:
        raise KeyError(f"{source}: missing tensor {key}")
    return tuple(state[key].shape)


def infer_arch(state: dict[str, torch.Tensor], source: str = "weights", **conventions: Any) -> ExternalArch:
    """The :class:`ExternalArch` whose model has exactly ``state``'s tensors (torchvision names).

    Widths come from the first block of the first stage and the heads; every other tensor is
    checked against the built model later, so an inconsistent file is still refused by name.
    ``conventions`` (anchor_style, resize_style, image_mean, ...) are passed through.
    """
    body = "backbone.body."
    blocks = []
    for stage in range(1, 5):
        n = 0
        while f"{body}layer{stage}.{n}.conv1.weight" in state:
            n += 1
        if n == 0:
            raise KeyError(f"{source}: missing tensor {body}layer{stage}.0.conv1.weight (stage {stage + 1})")
        blocks.append(n)
    conv2 = _shape(state, f"{body}layer1.0.conv2.weight", source)
    width, per_group = conv2[0], conv2[1]
    if width % per_group:
        raise ValueError(f"{source}: {body}layer1.0.conv2.weight {conv2} is not a grouped 3x3 conv")
    return ExternalArch(
        blocks=tuple(blocks), groups=width // per_group, width_per_group=per_group,
        stem_channels=_shape(state, f"{body}conv1.weight", source)[0],
        res2_channels=_shape(state, f"{body}layer1.0.conv3.weight", source)[0],
        fpn_channels=_shape(state, "backbone.fpn.inner_blocks.0.0.weight", source)[0],
        representation_size=_shape(state, "roi_heads.box_head.fc6.weight", source)[0],
        **conventions,
    )


def zoo_name_for(arch: ExternalArch) -> str:
    """The zoo family a converted model belongs to (its name in checkpoints and the UI)."""
    standard = (arch.stem_channels, arch.res2_channels) == (64, 256)
    if tuple(arch.blocks) == (3, 4, 6, 3):
        return "resnet50_fpn" if arch.groups == 1 else "resnext50_32x4d_fpn"
    if standard and (arch.groups, arch.width_per_group) == (64, 4):
        return "resnext101_64x4d_fpn"
    return "resnext101_32x8d_fpn"


def build_external_model(spec, external: dict[str, Any] | ExternalArch, *, num_classes: int,
                         class_names: list[str], trainable_layers: int | None, min_size, max_size,
                         score_thresh: float, nms_thresh: float, detections_per_img: int,
                         norm: str | None, anchor_sizes: tuple[int, ...]):
    """``zoo.build_model(..., external=...)``: a converted model's architecture, no weights loaded
    (they come from the checkpoint). Returns (model, spec as shown, build kwargs): the zoo wraps
    them in its ``BuiltModel`` (this module does not import the zoo, which imports it)."""
    arch = ExternalArch.from_dict(external)
    norm = norm or "frozen_bn"
    trainable_layers = 3 if trainable_layers is None else trainable_layers
    min_size = spec.default_min_size if min_size is None else min_size
    max_size = spec.default_max_size if max_size is None else max_size
    model = build_detector(arch, num_classes=num_classes, norm=norm, trainable_layers=trainable_layers,
                           anchor_sizes=anchor_sizes, min_size=min_size, max_size=max_size,
                           score_thresh=score_thresh, nms_thresh=nms_thresh, detections_per_img=detections_per_img)
    shown = dataclasses.replace(spec, title=arch.title, description=(
        f"{arch.title}: a COCO-trained detector from {arch.framework}, converted to torchvision's layout with "
        "the original framework's anchors, RoIAlign and test resize."), weights=None)
    build_kwargs = dict(
        name=spec.name, num_classes=num_classes, class_names=list(class_names), trainable_layers=trainable_layers,
        min_size=list(min_size) if isinstance(min_size, tuple) else min_size, max_size=max_size,
        score_thresh=score_thresh, nms_thresh=nms_thresh, detections_per_img=detections_per_img, norm=norm,
        anchor_sizes=list(anchor_sizes), external=arch.to_dict(),
    )
    return model, shown, build_kwargs
