"""A run's files on disk: last.pt / best.pt for use, train_state.pt for an exact resume.

Rank 0 alone writes (every process holds the same weights); every process reads the state
back, so all resume from the same step, weights, optimizer and RNG.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mtvif_ros.model import ModelConfig, save_checkpoint
from mtvif_ros.train.config import TrainConfig


@dataclass
class Optimisation:
    """The optimiser-side state that an exact resume restores along with the weights."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler


@dataclass
class RunInfo:
    """What a checkpoint's metadata says about how it was trained."""

    cfg: TrainConfig
    command: str
    n_samples: int  # training samples per epoch, of every source
    data: dict[str, Any]  # what it was trained on: sources.data_summary


class Checkpointer:
    """Writes last.pt / best.pt (weights + metadata) and train_state.pt (everything)."""

    def __init__(
        self,
        out: Path,
        rank: int,
        model: nn.Module,
        mcfg: ModelConfig,
        opt: Optimisation,
        info: RunInfo,
    ) -> None:
        self.out, self.rank, self.model, self.mcfg = out, rank, model, mcfg
        self.opt, self.info = opt, info

    def meta(self, step: int) -> dict[str, Any]:
        """Checkpoint metadata: steps, command, settings and the data trained on."""
        cfg = self.info.cfg
        description = f"{cfg.architecture} trained {step} steps by mtvif-train"
        if "camvid" in self.info.data:
            description += "; trained on CamVid too: research use only (see data.camvid)"
        return {
            "trained": True,
            "description": description,
            "steps": step,
            "command": self.info.command,
            "train_config": json.loads(json.dumps(dataclasses.asdict(cfg))),
            "data": self.info.data,
        }

    def save(self, name: str, step: int) -> None:
        """Write a loadable checkpoint (``load_checkpoint``) named ``name`` (rank 0 only)."""
        if self.rank:
            return
        save_checkpoint(self.out / name, self.model, self.mcfg, self.meta(step))

    def save_state(self, step: int, best: float) -> None:
        """Write train_state.pt atomically (rank 0 only): a crash never leaves half a file."""
        if self.rank:
            return
        state = {
            "step": step,
            "best": best,
            "model": self.model.state_dict(),
            "optimizer": self.opt.optimizer.state_dict(),
            "scheduler": self.opt.scheduler.state_dict(),
            "scaler": self.opt.scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "config": dataclasses.asdict(self.info.cfg),
        }
        tmp = self.out / "train_state.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.out / "train_state.pt")

    def save_all(self, step: int, best: float) -> None:
        """last.pt and train_state.pt: the run as it is now, usable and resumable."""
        self.save("last.pt", step)
        self.save_state(step, best)

    def load_state(self, path: str) -> tuple[int, float]:
        """Restore weights, optimiser, scheduler, scaler and RNG; returns (step, best)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.opt.optimizer.load_state_dict(state["optimizer"])
        self.opt.scheduler.load_state_dict(state["scheduler"])
        self.opt.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        return int(state["step"]), float(state["best"])
