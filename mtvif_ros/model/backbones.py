"""Fusion backbones (encoders) and their original fusion decoders, behind a registry.

MultiTaskVIF's claim is that the multi-task head works on any fusion backbone, so the
backbone is chosen by name. Every backbone takes (visible Y, IR), both N×1×H×W in [0, 1],
and returns one fused feature map at full resolution with ``out_channels`` channels;
``make_decoder()`` builds that backbone's original single-task fusion decoder, used by the
plain fusion network and the cascade baseline. A backbone built with ``seg_stride`` > 1
(where it supports one) returns ``(full-resolution feature, feature at 1/seg_stride)``,
the second with ``seg_out_channels`` channels, for the head's segmentation branch.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
from torch import nn

from mtvif_ros.model.blocks import ConvAct, DenseBlock, GradientResidualDenseBlock


class Backbone(nn.Module):
    """Interface of a registered backbone."""

    out_channels: int
    seg_out_channels: int = 0  # channels of the coarse feature (seg_stride > 1 only)

    def make_decoder(self) -> nn.Module:  # pragma: no cover - interface
        raise NotImplementedError


BACKBONES: dict[str, Callable[..., Backbone]] = {}


def register_backbone(name: str) -> Callable[[type[Backbone]], type[Backbone]]:
    """Class decorator adding a backbone to the registry under ``name``.

    A name already taken raises ValueError: checkpoints store only the name, so silently
    replacing a backbone would load their weights into another class.
    """

    def wrap(cls: type[Backbone]) -> type[Backbone]:
        if name in BACKBONES:
            raise ValueError(f"backbone '{name}' is already registered; choose another name")
        BACKBONES[name] = cls
        return cls

    return wrap


def build_backbone(
    name: str, widths: Sequence[int] | None = None, seg_stride: int = 1
) -> Backbone:
    """Instantiate a registered backbone; ``widths=None`` uses its defaults. ``seg_stride``
    > 1 also returns its coarse feature (ValueError for a backbone without one)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone '{name}'; known: {', '.join(sorted(BACKBONES))}")
    kwargs = {"seg_stride": seg_stride} if seg_stride > 1 else {}
    try:
        return BACKBONES[name](widths, **kwargs) if widths else BACKBONES[name](**kwargs)
    except TypeError:
        if not kwargs:
            raise
        raise ValueError(f"backbone '{name}' has no coarse feature for seg_stride") from None


class FusionDecoder(nn.Sequential):
    """Conv stack from a fused feature to a fused Y in [0, 1] (tanh/2 + 0.5 as SeAFusion)."""

    def __init__(self, channels: Sequence[int]) -> None:
        layers: list[nn.Module] = [ConvAct(a, b, bn=True) for a, b in itertools.pairwise(channels)]
        layers += [nn.Conv2d(channels[-1], 1, 3, padding=1), nn.Tanh()]
        super().__init__(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 0.5 + 0.5


class _SeAFusionStream(nn.Sequential):
    def __init__(self, widths: Sequence[int]) -> None:
        c0, c1, c2 = widths
        super().__init__(
            ConvAct(1, c0), GradientResidualDenseBlock(c0, c1), GradientResidualDenseBlock(c1, c2)
        )


@register_backbone("seafusion")
class SeAFusionEncoder(Backbone):
    """SeAFusion's encoder: per modality conv + two gradient residual dense blocks.

    Two full-resolution streams (visible Y and IR) with widths (16, 32, 48) by default,
    concatenated to a 2·48 = 96-channel fused feature.
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 48)) -> None:
        super().__init__()
        if len(widths) != 3:
            raise ValueError(f"seafusion backbone needs 3 widths, got {list(widths)}")
        self.widths = tuple(int(w) for w in widths)
        self.vis = _SeAFusionStream(self.widths)
        self.ir = _SeAFusionStream(self.widths)
        self.out_channels = 2 * self.widths[2]

    def forward(self, vis_y: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.vis(vis_y), self.ir(ir)), 1)

    def make_decoder(self) -> nn.Module:
        _, c1, c2 = self.widths
        return FusionDecoder((2 * c2, 2 * c1, c1, c1 // 2))


class _DenseFuseStream(nn.Sequential):
    def __init__(self, width: int) -> None:
        super().__init__(ConvAct(1, width), DenseBlock(width), ConvAct(3 * width, 2 * width, k=1))


@register_backbone("densefuse")
class DenseFuseEncoder(Backbone):
    """A DenseFuse-style encoder: per modality conv + one dense block, no gradient branch.

    A second, structurally different backbone so the head's backbone independence is
    exercised, not just claimed. Widths: (w,), fused feature 4·w channels.
    """

    def __init__(self, widths: Sequence[int] = (16,)) -> None:
        super().__init__()
        if len(widths) != 1:
            raise ValueError(f"densefuse backbone needs 1 width, got {list(widths)}")
        self.widths = (int(widths[0]),)
        self.vis = _DenseFuseStream(self.widths[0])
        self.ir = _DenseFuseStream(self.widths[0])
        self.out_channels = 4 * self.widths[0]

    def forward(self, vis_y: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.vis(vis_y), self.ir(ir)), 1)

    def make_decoder(self) -> nn.Module:
        c = self.out_channels
        return FusionDecoder((c, c // 2, c // 4))
