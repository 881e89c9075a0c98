"""The cascade baseline: a fusion network, then a separate, complete segmentation network.

This is the design MultiTaskVIF replaces (SeAFusion, SegMiF): the fusion backbone keeps its
original decoder, and a second network segments the fused image. The segmenter here is a
standard 4-level U-Net (Ronneberger et al.) with batch norm, widths 32-64-128-256 by default
(~1.9 M parameters), chosen as a light, well-known segmentation net. It sees the fused
luma (one channel), so the cascade and MultiTaskVIF receive exactly the same inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mtvif_ros.model.backbones import Backbone
from mtvif_ros.model.blocks import ConvAct


class FusionNet(nn.Module):
    """Backbone + its original fusion decoder: (vis Y, IR) → fused Y in [0, 1]."""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone
        self.decoder = backbone.make_decoder()

    def forward(self, vis_y: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.backbone(vis_y, ir))


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        ConvAct(cin, cout, act="relu", bn=True), ConvAct(cout, cout, act="relu", bn=True)
    )


class UNet(nn.Module):
    """U-Net segmenter; any input size (decoder features are resized to the skip's size)."""

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int]) -> None:
        super().__init__()
        widths = list(widths)
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths:
            self.down.append(_double_conv(cin, w))
            cin = w
        self.up = nn.ModuleList(
            _double_conv(widths[i] + widths[i + 1], widths[i]) for i in range(len(widths) - 1)
        )
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2, ceil_mode=True)
            x = block(x)
            skips.append(x)
        for i in range(len(self.up) - 1, -1, -1):
            skip = skips[i]
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = self.up[i](torch.cat((skip, x), 1))
        return self.classifier(x)


class CascadeVIF(nn.Module):
    """FusionNet → fused Y → U-Net → logits; two networks run one after the other."""

    def __init__(self, backbone: Backbone, num_classes: int, seg_widths: Sequence[int]) -> None:
        super().__init__()
        self.fusion = FusionNet(backbone)
        self.segmenter = UNet(1, num_classes, seg_widths)

    def forward(self, vis_y: torch.Tensor, ir: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fused = self.fusion(vis_y, ir)
        return fused, self.segmenter(fused)
