"""One function that turns a ModelConfig into a network, for every architecture."""

from __future__ import annotations

from typing import Any

from torch import nn

from mtvif_ros.model.backbones import build_backbone
from mtvif_ros.model.cascade import CascadeVIF, FusionNet
from mtvif_ros.model.config import ModelConfig
from mtvif_ros.model.mth import MultiTaskHead
from mtvif_ros.model.multitaskvif import MultiTaskVIF


def build_model(config: ModelConfig | None = None, **overrides: Any) -> nn.Module:
    """Build the network a config describes (default: MultiTaskVIF on SeAFusion, 9 classes).

    Keyword overrides replace config fields, e.g. ``build_model(architecture="cascade")``.
    """
    if config is None or overrides:
        base = config.to_dict() if config is not None else {}
        config = ModelConfig.from_dict({**base, **overrides})
    backbone = build_backbone(config.backbone, config.widths or None)
    if config.architecture == "fusion":
        return FusionNet(backbone)
    if config.architecture == "cascade":
        return CascadeVIF(backbone, config.num_classes, config.cascade_seg_widths)
    head = MultiTaskHead(
        backbone.out_channels,
        config.num_classes,
        fusion_channels=config.fusion_channels,
        seg_channels=config.seg_channels,
        attention_dim=config.attention_dim,
        attention_heads=config.attention_heads,
        seg_dilations=config.seg_dilations,
    )
    return MultiTaskVIF(backbone, head)


def multitaskvif(**overrides: Any) -> nn.Module:
    """Builder for the shipped architecture (torchvision-style convenience)."""
    return build_model(architecture="multitaskvif", **overrides)


def cascade(**overrides: Any) -> nn.Module:
    """Builder for the cascade baseline (fusion network + separate U-Net)."""
    return build_model(architecture="cascade", **overrides)
