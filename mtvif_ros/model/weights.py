"""The checkpoint shipped inside the package, used when no checkpoint path is given.

Until a trained checkpoint is shipped, the file is a seeded random initialization whose
``meta['trained']`` is False; the engine logs a warning for it and README says so.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from mtvif_ros.model.builder import build_model
from mtvif_ros.model.checkpoint import save_checkpoint
from mtvif_ros.model.config import ModelConfig

DEFAULT_CHECKPOINT = "multitaskvif_default.pt"


def default_checkpoint_path() -> Path:
    """Installed location of the package's default checkpoint."""
    return Path(str(resources.files("mtvif_ros") / "weights" / DEFAULT_CHECKPOINT))


def write_untrained_checkpoint(path: str | Path, seed: int = 0) -> None:
    """Write a deterministic, clearly untrained MultiTaskVIF checkpoint (default config)."""
    torch.manual_seed(seed)
    config = ModelConfig()
    model = build_model(config)
    meta = {
        "trained": False,
        "description": "UNTRAINED: seeded random initialization (torch.manual_seed("
        f"{seed})); outputs are not meaningful fusion or segmentation",
    }
    save_checkpoint(path, model, config, meta)
