"""The multi-task head (MTH) that replaces a fusion backbone's decoder.

Wiring, as the paper's framework figure draws it::

    fused feature ─ conv ─ f_re ──────────────┐
          │                                  HIA-F ─ f_RE ─ conv ─ conv ─ fused Y
          └─ conv ─ conv ─ f_seg ─ conv ──────┘
                             └─ conv ─ segmentation logits

Both outputs come from the same fused feature in one pass; the fusion loss also trains the
segmentation branch's convolutions through HIA-F, and the segmentation loss trains the
shared backbone. With a coarse feature from the backbone (``seg_in_channels``), the
segmentation branch runs on it instead, at its lower resolution, as real-time segmenters
do: its logits and its contribution to HIA-F are upsampled (bilinear) to full resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mtvif_ros.model.blocks import ConvAct
from mtvif_ros.model.hiaf import HIAF


class MultiTaskHead(nn.Module):
    """MultiTaskVIF's multi-task head (MTH): fused Y and segmentation logits in one pass.

    It replaces a fusion backbone's decoder, so one network does what segmentation-oriented
    fusion otherwise does with a fusion net cascaded into a separate segmenter. The
    segmentation branch (two convs → ``f_seg`` → 1×1 classifier) gives the logits; the
    fusion branch (one conv → ``f_re`` → HIA-F → two convs) gives the fused Y in [0, 1].
    HIA-F injects ``f_seg`` (through one conv) into ``f_re`` by cross-attention, so the
    reconstruction sees semantic context and the fusion loss also trains the segmentation
    branch's convolutions. ``forward`` returns ``(fused, logits)``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        fusion_channels: int = 32,
        seg_channels: int = 48,
        attention_dim: int = 16,
        attention_heads: int = 2,
        seg_dilations: Sequence[int] = (1, 1),
        seg_in_channels: int = 0,
    ) -> None:
        super().__init__()
        d1, d2 = seg_dilations
        seg_in = seg_in_channels or in_channels
        # fusion branch
        self.to_re = ConvAct(in_channels, fusion_channels)
        self.hiaf = HIAF(fusion_channels, attention_dim, attention_heads)
        self.fusion_out = nn.Sequential(
            ConvAct(fusion_channels, fusion_channels // 2),
            nn.Conv2d(fusion_channels // 2, 1, 3, padding=1),
            nn.Tanh(),
        )
        # segmentation branch
        self.to_seg = nn.Sequential(
            ConvAct(seg_in, seg_channels, act="relu", bn=True, dilation=d1),
            ConvAct(seg_channels, seg_channels, act="relu", bn=True, dilation=d2),
        )
        self.classifier = nn.Conv2d(seg_channels, num_classes, 1)
        self.seg_to_fusion = ConvAct(seg_channels, fusion_channels)

    def forward(
        self, feature: torch.Tensor, seg_feature: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        f_seg = self.to_seg(feature if seg_feature is None else seg_feature)
        logits = _upsampled(self.classifier(f_seg), feature)
        f_re = self.to_re(feature)
        f_big_re = self.hiaf(f_re, _upsampled(self.seg_to_fusion(f_seg), feature))
        fused = self.fusion_out(f_big_re) * 0.5 + 0.5
        return fused, logits


def _upsampled(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``x`` at ``like``'s resolution (bilinear), unchanged when it is already there."""
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
