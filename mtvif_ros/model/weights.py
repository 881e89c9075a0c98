"""The checkpoint shipped inside the package, used when no checkpoint path is given.

The shipped file is a trained MultiTaskVIF (``meta['trained']`` is True; its ``meta``
records the training command, data and hardware). ``write_untrained_checkpoint`` makes a
seeded random initialization of the same architecture, e.g. as a starting point or a
test fixture; it is marked ``trained=False`` so the engine warns whenever one is loaded.
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
    """Installed location of the package's default (trained) checkpoint."""
    return Path(str(resources.files("mtvif_ros") / "weights" / DEFAULT_CHECKPOINT))


def write_untrained_checkpoint(path: str | Path, seed: int = 0) -> None:
    """Write a deterministic, clearly untrained MultiTaskVIF checkpoint (default config).

    The meta says UNTRAINED so nobody mistakes its outputs for the trained model's.
    """
    torch.manual_seed(seed)
    config = ModelConfig()
    model = build_model(config)
    meta = {
        "trained": False,
        "description": "UNTRAINED: seeded random initialization (torch.manual_seed("
        f"{seed})); outputs are not meaningful fusion or segmentation",
    }
    save_checkpoint(path, model, config, meta)
