"""Model configuration: everything needed to rebuild a network, stored in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mtvif_ros.classes import MSRS_CLASSES, MSRS_PALETTE

ARCHITECTURES = ("multitaskvif", "cascade", "fusion")

# What the network's two inputs are. Checkpoints declare it and load_checkpoint refuses one
# that declares another, so a convention change fails at load time instead of silently
# producing wrong images.
INPUT_CONVENTION = "vis=Y of BT.601 YCrCb (OpenCV) in [0,1]; ir=normalized in [0,1]; N×1×H×W"

# The IR input of a visible-only sample (no thermal image, or the thermal camera dropped
# out): training feeds it for CamVid scenes and modality dropout, the engine for ir=None.
MISSING_IR = 0.0

CONFIG_VERSION = 1


@dataclass
class ModelConfig:
    """Architecture and label metadata of a network.

    ``architecture``: ``multitaskvif`` (backbone + multi-task head, the shipped model),
    ``cascade`` (backbone + original decoder, then a separate U-Net segmenter) or
    ``fusion`` (backbone + original decoder only; fusion without segmentation).
    ``widths`` empty means the backbone's defaults. ``seg_stride`` > 1 runs the
    segmentation branch on the backbone's feature at 1/``seg_stride`` resolution and
    upsamples its logits (real-time segmenters do; the labels need context, not pixels),
    for backbones that have such a feature (``multiscale``: 2, 4 or 8).
    """

    architecture: str = "multitaskvif"
    backbone: str = "seafusion"
    widths: list[int] = field(default_factory=list)
    fusion_channels: int = 32
    seg_channels: int = 48
    attention_dim: int = 16
    attention_heads: int = 2
    seg_dilations: list[int] = field(default_factory=lambda: [1, 1])
    seg_stride: int = 1
    cascade_seg_widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    num_classes: int = len(MSRS_CLASSES)
    class_names: list[str] = field(default_factory=lambda: list(MSRS_CLASSES))
    palette: list[list[int]] = field(default_factory=lambda: [list(c) for c in MSRS_PALETTE])
    input_convention: str = INPUT_CONVENTION
    version: int = CONFIG_VERSION

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent field."""
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"unknown architecture '{self.architecture}'; known: {', '.join(ARCHITECTURES)}"
            )
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"class_names has {len(self.class_names)} entries but num_classes is "
                f"{self.num_classes}"
            )
        if len(self.palette) < self.num_classes or any(
            len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in self.palette
        ):
            raise ValueError(f"palette needs {self.num_classes} RGB rows with values 0..255")
        if self.seg_stride not in (1, 2, 4, 8):
            raise ValueError(f"seg_stride must be 1, 2, 4 or 8, got {self.seg_stride}")
        if self.seg_stride > 1 and self.architecture != "multitaskvif":
            raise ValueError(
                f"seg_stride {self.seg_stride} needs the multi-task head (architecture "
                f"multitaskvif), not {self.architecture}"
            )
        if self.version > CONFIG_VERSION:
            raise ValueError(
                f"config version {self.version} is newer than this mtvif_ros understands "
                f"({CONFIG_VERSION}); upgrade mtvif_ros"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-types dict (safe for ``torch.load(weights_only=True)``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a stored dict; unknown keys are an error, missing keys take defaults."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**data)
