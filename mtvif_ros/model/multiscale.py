"""A multi-scale fusion backbone for robots: context to segment, detail to fuse, few FLOPs.

The reference SeAFusion encoder never downsamples: every output pixel sees ~15 px, too
little to tell a car or a person from its surroundings, and its full-resolution dense
blocks cost ~54 GFLOPs per 480×640 frame. Here each modality (visible Y, IR) has a light
stream that halves the resolution four times (1/2 … 1/16) with residual depthwise blocks,
dilated at the coarsest scale, and a global-context block gives the coarsest fused
feature the whole image as context. The two modalities are fused at every scale
(concatenation and a 1×1 conv), and a top-down decoder brings the context back to full
resolution through each scale's fused feature, so the one full-resolution fused feature
handed to the multi-task head carries both the pixel detail fusion needs and the context
segmentation needs. The head (MTH with HIA-F) is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mtvif_ros.model.backbones import Backbone, FusionDecoder, register_backbone
from mtvif_ros.model.blocks import ConvAct, DepthwiseResidual, GlobalContext

DEFAULT_WIDTHS = (8, 16, 32, 64, 96, 24)  # full, 1/2, 1/4, 1/8, 1/16; fused output
BLOCKS = (1, 1, 2, 3)  # residual blocks at 1/2 … 1/16
COARSE_DILATIONS = (1, 2, 4)  # of the 1/16 blocks


class _Stream(nn.Module):
    """One modality: a full-resolution stem, then four stride-2 stages; → five features."""

    def __init__(self, widths: Sequence[int]) -> None:
        super().__init__()
        c0 = widths[0]
        self.stem = nn.Sequential(ConvAct(1, c0), ConvAct(c0, c0))
        self.stages = nn.ModuleList()
        for i, (cin, cout, n) in enumerate(zip(widths[:-1], widths[1:], BLOCKS, strict=True)):
            dilations = COARSE_DILATIONS[:n] if i == len(BLOCKS) - 1 else (1,) * n
            self.stages.append(
                nn.Sequential(
                    ConvAct(cin, cout, act="relu", bn=True, stride=2),
                    *(DepthwiseResidual(cout, d) for d in dilations),
                )
            )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.stem(x)]
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        return feats


@register_backbone("multiscale")
class MultiScaleFusionEncoder(Backbone):
    """Two light multi-scale streams fused at every scale, global context at 1/16,
    decoded top-down to one full-resolution fused feature.

    ``widths``: channels at full, 1/2, 1/4, 1/8 and 1/16 resolution, then of the fused
    output feature (default 8, 16, 32, 64, 96, 24). Any input size works (features are
    resized to their skip's size on the way up). ``seg_stride`` 2, 4 or 8 also returns the
    decoder's feature at that scale (with ``widths`` of that scale's channels), where the
    segmentation branch then runs.
    """

    def __init__(self, widths: Sequence[int] = DEFAULT_WIDTHS, seg_stride: int = 1) -> None:
        super().__init__()
        if len(widths) != 6:
            raise ValueError(f"multiscale backbone needs 6 widths, got {list(widths)}")
        if seg_stride not in (1, 2, 4, 8):
            raise ValueError(f"multiscale seg_stride must be 1, 2, 4 or 8, got {seg_stride}")
        self.widths = tuple(int(w) for w in widths)
        self.seg_level = seg_stride.bit_length() - 1  # 0: none; else the scale 1/2**level
        self.seg_out_channels = self.widths[self.seg_level] if self.seg_level else 0
        scales, out = self.widths[:5], self.widths[5]
        self.vis = _Stream(scales)
        self.ir = _Stream(scales)
        self.fuse = nn.ModuleList(
            [ConvAct(2 * scales[0], scales[0], k=1)]  # full resolution: keep it light, no BN
            + [ConvAct(2 * c, c, k=1, act="relu", bn=True) for c in scales[1:]]
        )
        self.context = GlobalContext(scales[-1])
        up = []
        for i in range(len(scales) - 1, 0, -1):  # 1/16→1/8, …, 1/2→full
            cin, cout = scales[i] + scales[i - 1], scales[i - 1] if i > 1 else out
            up.append(ConvAct(cin, cout) if i == 1 else ConvAct(cin, cout, act="relu", bn=True))
        self.up = nn.ModuleList(up)
        self.out_channels = out

    def forward(
        self, vis_y: torch.Tensor, ir: torch.Tensor
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        fused = [
            fuse(torch.cat((v, i), 1))
            for fuse, v, i in zip(self.fuse, self.vis(vis_y), self.ir(ir), strict=True)
        ]
        x = self.context(fused[-1])
        coarse = x
        for level, conv, skip in zip(
            range(len(fused) - 2, -1, -1), self.up, reversed(fused[:-1]), strict=True
        ):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = conv(torch.cat((x, skip), 1))
            if level == self.seg_level:
                coarse = x
        return (x, coarse) if self.seg_level else x

    def make_decoder(self) -> nn.Module:
        c = self.out_channels
        return FusionDecoder((c, c // 2, c // 4))
