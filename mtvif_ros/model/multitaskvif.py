"""MultiTaskVIF: a fusion backbone whose decoder is replaced by the multi-task head.

Zhao, Howes, Zhang, "MultiTaskVIF: Segmentation-oriented visible and infrared image fusion
via multi-task learning", IEEE TIP (arXiv 2505.06665). One network, one pass, trained in
one stage with L_total = β1·L_fusion + β2·L_seg.
"""

from __future__ import annotations

import torch
from torch import nn

from mtvif_ros.model.backbones import Backbone
from mtvif_ros.model.mth import MultiTaskHead


class MultiTaskVIF(nn.Module):
    """(visible Y, IR) → (fused Y in [0, 1], segmentation logits), inputs N×1×H×W in [0, 1]."""

    def __init__(self, backbone: Backbone, head: MultiTaskHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, vis_y: torch.Tensor, ir: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(vis_y, ir)
        if isinstance(features, tuple):  # full-resolution feature, coarse one for labels
            return self.head(*features)
        return self.head(features)
