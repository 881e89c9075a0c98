"""The networks: MultiTaskVIF (backbone + multi-task head), the cascade baseline, checkpoints.

Public API::

    from mtvif_ros.model import build_model, ModelConfig, load_checkpoint, save_checkpoint
"""

from mtvif_ros.model.backbones import BACKBONES, build_backbone, register_backbone
from mtvif_ros.model.builder import PRESETS, build_model, cascade, multitaskvif, preset
from mtvif_ros.model.cascade import CascadeVIF, FusionNet, UNet
from mtvif_ros.model.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from mtvif_ros.model.config import ARCHITECTURES, ModelConfig
from mtvif_ros.model.hiaf import HIAF
from mtvif_ros.model.mth import MultiTaskHead
from mtvif_ros.model.multiscale import MultiScaleFusionEncoder
from mtvif_ros.model.multitaskvif import MultiTaskVIF
from mtvif_ros.model.weights import (
    DEFAULT_CHECKPOINT,
    default_checkpoint_path,
    packaged_checkpoints,
    reference_checkpoint_path,
)

__all__ = [
    "ARCHITECTURES",
    "BACKBONES",
    "DEFAULT_CHECKPOINT",
    "HIAF",
    "PRESETS",
    "CascadeVIF",
    "Checkpoint",
    "CheckpointError",
    "FusionNet",
    "ModelConfig",
    "MultiScaleFusionEncoder",
    "MultiTaskHead",
    "MultiTaskVIF",
    "UNet",
    "build_backbone",
    "build_model",
    "cascade",
    "default_checkpoint_path",
    "load_checkpoint",
    "multitaskvif",
    "packaged_checkpoints",
    "preset",
    "reference_checkpoint_path",
    "register_backbone",
    "save_checkpoint",
]
