"""One function that turns a ModelConfig into a network, for every architecture."""

from __future__ import annotations

from typing import Any

from torch import nn

import mtvif_ros.model.multiscale  # noqa: F401  (registers the "multiscale" backbone)
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
    backbone = build_backbone(config.backbone, config.widths or None, config.seg_stride)
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
        seg_in_channels=backbone.seg_out_channels,
    )
    return MultiTaskVIF(backbone, head)


# The configurations this project trains, by backbone: the SeAFusion encoder with the head
# sized as in the paper's setting (the faithful reference), and the multiscale backbone with
# a head sized to its 24-channel feature (the robot default: ~5x fewer FLOPs).
PRESETS: dict[str, dict[str, Any]] = {
    "seafusion": {"backbone": "seafusion"},
    "multiscale": {"backbone": "multiscale", "fusion_channels": 16, "seg_channels": 24},
}


def preset(backbone: str, architecture: str = "multitaskvif", **overrides: Any) -> ModelConfig:
    """The trained configuration of ``backbone`` (see PRESETS) for ``architecture``."""
    if backbone not in PRESETS:
        raise ValueError(f"no preset for backbone '{backbone}'; known: {', '.join(PRESETS)}")
    return ModelConfig.from_dict({**PRESETS[backbone], "architecture": architecture, **overrides})


def multitaskvif(**overrides: Any) -> nn.Module:
    """Builder for the shipped architecture (torchvision-style convenience)."""
    return build_model(architecture="multitaskvif", **overrides)


def cascade(**overrides: Any) -> nn.Module:
    """Builder for the cascade baseline (fusion network + separate U-Net)."""
    return build_model(architecture="cascade", **overrides)
