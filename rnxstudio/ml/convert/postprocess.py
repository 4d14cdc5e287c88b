"""Proposal and detection filtering as detectron2 / mmdetection do it, on torchvision's modules.

torchvision's Faster R-CNN differs from both frameworks after the network has run:

* RPN: torchvision runs NMS on ``sigmoid(logit)``, which is exactly 1.0 in float32 for logits
  above ~17, so confident anchors tie and the tie order decides what NMS keeps; detectron2 runs
  NMS on the logits themselves (mmdetection, like torchvision, on sigmoid scores). torchvision
  drops proposals narrower than 1e-3 px; both frameworks only drop empty ones (side <= 0).
* detections: torchvision drops boxes narrower than 1e-2 px before NMS; mmdetection drops none;
  detectron2 drops empty boxes after NMS and the top-100 cut (``detector_postprocess``), so it
  can return fewer than 100.
* box decoding: torchvision and detectron2 clamp the predicted log-scale (dw, dh) from above only
  (at log(1000/16)); mmdetection's ``delta2bbox`` clamps it from below too, so a box never
  shrinks below 1/62.5 of its anchor or proposal (:class:`SymmetricClampBoxCoder`).

:class:`ExactRPN` and :class:`ExactRoIHeads` change only those steps (``style`` "detectron2" or
"mmdet"); training is torchvision's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork
from torchvision.ops import boxes as box_ops

STYLES = ("detectron2", "mmdet")


def _nonempty(boxes: Tensor) -> Tensor:
    return torch.where((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))[0]


class SymmetricClampBoxCoder(BoxCoder):
    """torchvision's BoxCoder with mmdetection's decoding: dw, dh clamped to +-log(1000/16)."""

    def decode_single(self, rel_codes: Tensor, boxes: Tensor) -> Tensor:
        boxes = boxes.to(rel_codes.dtype)
        widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        ctr_x, ctr_y = boxes[:, 0] + 0.5 * widths, boxes[:, 1] + 0.5 * heights
        wx, wy, ww, wh = self.weights
        clip = self.bbox_xform_clip
        dx, dy = rel_codes[:, 0::4] / wx, rel_codes[:, 1::4] / wy
        dw = torch.clamp(rel_codes[:, 2::4] / ww, min=-clip, max=clip)
        dh = torch.clamp(rel_codes[:, 3::4] / wh, min=-clip, max=clip)
        cx, cy = dx * widths[:, None] + ctr_x[:, None], dy * heights[:, None] + ctr_y[:, None]
        half_w, half_h = 0.5 * torch.exp(dw) * widths[:, None], 0.5 * torch.exp(dh) * heights[:, None]
        return torch.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), dim=2).flatten(1)


def _coder_for(style: str, coder: BoxCoder) -> BoxCoder:
    if style == "mmdet":
        return SymmetricClampBoxCoder(coder.weights, coder.bbox_xform_clip)
    return coder


class ExactRPN(RegionProposalNetwork):
    """RegionProposalNetwork whose test-time proposal filtering follows ``style``."""

    def __init__(self, *args, style: str, **kwargs):
        super().__init__(*args, **kwargs)
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        self.style = style

    @classmethod
    def like(cls, rpn: RegionProposalNetwork, style: str) -> ExactRPN:
        """The same RPN (same head, anchors and settings) with ``style``'s filtering."""
        new = cls(rpn.anchor_generator, rpn.head, rpn.proposal_matcher.high_threshold,
                  rpn.proposal_matcher.low_threshold, rpn.fg_bg_sampler.batch_size_per_image,
                  rpn.fg_bg_sampler.positive_fraction, dict(rpn._pre_nms_top_n), dict(rpn._post_nms_top_n),
                  rpn.nms_thresh, rpn.score_thresh, style=style)
        new.box_coder = _coder_for(style, rpn.box_coder)
        return new

    def filter_proposals(self, proposals: Tensor, objectness: Tensor, image_shapes: list[tuple[int, int]],
                         num_anchors_per_level: list[int]) -> tuple[list[Tensor], list[Tensor]]:
        if self.training:
            return super().filter_proposals(proposals, objectness, image_shapes, num_anchors_per_level)
        num_images = proposals.shape[0]
        device = proposals.device
        objectness = objectness.detach().reshape(num_images, -1)
        levels = torch.cat([torch.full((n,), i, dtype=torch.int64, device=device)
                            for i, n in enumerate(num_anchors_per_level)]).reshape(1, -1).expand_as(objectness)
        top = self._get_top_n_idx(objectness, num_anchors_per_level)  # per level, by logit
        batch = torch.arange(num_images, device=device)[:, None]
        objectness, levels, proposals = objectness[batch, top], levels[batch, top], proposals[batch, top]
        final_boxes, final_scores = [], []
        for boxes, logits, lvl, shape in zip(proposals, objectness, levels, image_shapes):
            boxes = box_ops.clip_boxes_to_image(boxes, shape)
            keep = _nonempty(boxes)
            boxes, logits, lvl = boxes[keep], logits[keep], lvl[keep]
            scores = logits if self.style == "detectron2" else torch.sigmoid(logits)
            keep = box_ops.batched_nms(boxes, scores, lvl, self.nms_thresh)[: self.post_nms_top_n()]
            final_boxes.append(boxes[keep])
            final_scores.append(torch.sigmoid(logits[keep]))
        return final_boxes, final_scores


class ExactRoIHeads(RoIHeads):
    """RoIHeads whose test-time detection filtering follows ``style``."""

    def __init__(self, *args, style: str, **kwargs):
        super().__init__(*args, **kwargs)
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        self.style = style

    @classmethod
    def like(cls, heads: RoIHeads, style: str) -> ExactRoIHeads:
        new = cls(heads.box_roi_pool, heads.box_head, heads.box_predictor,
                  heads.proposal_matcher.high_threshold, heads.proposal_matcher.low_threshold,
                  heads.fg_bg_sampler.batch_size_per_image, heads.fg_bg_sampler.positive_fraction,
                  heads.box_coder.weights, heads.score_thresh, heads.nms_thresh, heads.detections_per_img,
                  style=style)
        new.box_coder = _coder_for(style, heads.box_coder)
        return new

    def postprocess_detections(self, class_logits: Tensor, box_regression: Tensor, proposals: list[Tensor],
                               image_shapes: list[tuple[int, int]]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        num_classes = class_logits.shape[-1]
        per_image = [p.shape[0] for p in proposals]
        pred_boxes = self.box_coder.decode(box_regression, proposals).split(per_image, 0)
        pred_scores = F.softmax(class_logits, -1).split(per_image, 0)
        all_boxes, all_scores, all_labels = [], [], []
        for boxes, scores, shape in zip(pred_boxes, pred_scores, image_shapes):
            boxes = box_ops.clip_boxes_to_image(boxes, shape)
            labels = torch.arange(num_classes, device=boxes.device).view(1, -1).expand_as(scores)
            # label 0 is background in torchvision's layout (the converter moved it first)
            boxes, scores, labels = boxes[:, 1:].reshape(-1, 4), scores[:, 1:].reshape(-1), labels[:, 1:].reshape(-1)
            keep = torch.where(scores > self.score_thresh)[0]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = box_ops.batched_nms(boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            if self.style == "detectron2":
                keep = _nonempty(boxes)
                boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            all_boxes.append(boxes)
            all_scores.append(scores)
            all_labels.append(labels)
        return all_boxes, all_scores, all_labels
