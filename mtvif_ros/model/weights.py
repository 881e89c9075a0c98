"""The checkpoints shipped inside the package.

``multitaskvif_default.pt`` is loaded when no checkpoint path is given: MultiTaskVIF on the
multiscale backbone trained with real labels (the robot default). ``multitaskvif_seafusion.pt``
is the previous default, MultiTaskVIF on the SeAFusion backbone (the faithful reference),
kept for comparison and loadable by its path. Both are trained (``meta['trained']``; the
``meta`` records the training command, data and hardware). ``write_untrained_checkpoint``
makes a seeded random initialization, e.g. as a starting point or a test fixture; it is
marked ``trained=False`` so the engine warns whenever one is loaded.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from mtvif_ros.model.builder import build_model, preset
from mtvif_ros.model.checkpoint import save_checkpoint

DEFAULT_CHECKPOINT = "multitaskvif_default.pt"
REFERENCE_CHECKPOINT = "multitaskvif_seafusion.pt"
DEFAULT_BACKBONE = "multiscale"  # the architecture of the default checkpoint


def _packaged(name: str) -> Path:
    return Path(str(resources.files("mtvif_ros") / "weights" / name))


def default_checkpoint_path() -> Path:
    """Installed location of the package's default (trained) checkpoint."""
    return _packaged(DEFAULT_CHECKPOINT)


def reference_checkpoint_path() -> Path:
    """Installed location of the SeAFusion-backbone checkpoint (the previous default)."""
    return _packaged(REFERENCE_CHECKPOINT)


def packaged_checkpoints() -> list[Path]:
    """Every checkpoint shipped with the package, the default first."""
    return [p for p in (default_checkpoint_path(), reference_checkpoint_path()) if p.is_file()]


def write_untrained_checkpoint(
    path: str | Path, seed: int = 0, backbone: str = DEFAULT_BACKBONE
) -> None:
    """Write a deterministic, clearly untrained MultiTaskVIF checkpoint of ``backbone``'s
    trained configuration (``model.preset``).

    The meta says UNTRAINED so nobody mistakes its outputs for the trained model's.
    """
    torch.manual_seed(seed)
    config = preset(backbone)
    model = build_model(config)
    meta = {
        "trained": False,
        "description": "UNTRAINED: seeded random initialization (torch.manual_seed("
        f"{seed})); outputs are not meaningful fusion or segmentation",
    }
    save_checkpoint(path, model, config, meta)
