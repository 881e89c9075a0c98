"""Validation during training: scores on held-out data, val.csv, and the best checkpoint.

The training loss says how well the batches are fitted; these scores, on pairs never
trained on, choose which weights to keep (best.pt).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from mtvif_ros.classes import IGNORE_INDEX
from mtvif_ros.losses import FusionLoss
from mtvif_ros.metrics import ConfusionMatrix
from mtvif_ros.tables import write_csv
from mtvif_ros.train.checkpoints import Checkpointer
from mtvif_ros.train.config import TrainConfig
from mtvif_ros.train.data import prepare_pair


class Validator:
    """Fusion loss on held-out real pairs and synthetic scenes, mIoU on the latter; keeps
    best.pt for the lowest ``val_fusion + (1 − mIoU)``. Rank 0 alone validates."""

    def __init__(
        self,
        sources: list[Any],
        cfg: TrainConfig,
        device: torch.device,
        checkpoints: Checkpointer,
    ) -> None:
        self.sources, self.device, self.checkpoints = sources, device, checkpoints
        self.model: nn.Module = checkpoints.model
        self.num_classes = checkpoints.mcfg.num_classes
        self.fusion_loss = FusionLoss(cfg.gradient_weight, cfg.ssim_weight).to(device)
        self.best = math.inf

    @torch.inference_mode()
    def scores(self) -> dict[str, float]:
        """``val_fusion`` (mean fusion loss) and ``val_mIoU`` (labelled sources only)."""
        self.model.eval()
        cm = ConfusionMatrix(self.num_classes)
        losses = []
        for src in self.sources:
            for i in range(len(src)):
                y, ir, labels = prepare_pair(src[i])
                t = torch.from_numpy(np.stack((y, ir))[None]).to(self.device)
                fused, logits = self.model(t[:, :1], t[:, 1:])
                losses.append(float(self.fusion_loss(fused, t[:, :1], t[:, 1:])["fusion"]))
                if (labels != IGNORE_INDEX).any():
                    cm.update(logits.argmax(1)[0].cpu().numpy(), labels)
        return {"val_fusion": float(np.mean(losses)), "val_mIoU": cm.scores()["mIoU"]}

    def __call__(self, step: int) -> None:
        """Validate at ``step``: a row of val.csv, and best.pt if the score improved."""
        if self.checkpoints.rank:
            return
        scores = self.scores()
        miou = scores["val_mIoU"] if math.isfinite(scores["val_mIoU"]) else 0.0
        score = scores["val_fusion"] + (1.0 - miou)
        row = {
            "step": step,
            "val_fusion": f"{scores['val_fusion']:.5f}",
            "val_mIoU": f"{miou:.4f}",
            "score": f"{score:.5f}",
        }
        write_csv(self.checkpoints.out / "val.csv", [row], append=True)
        if score < self.best:
            self.best = score
            self.checkpoints.save("best.pt", step)
