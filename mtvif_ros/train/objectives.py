"""What one training step optimises: the network it trains and the loss it minimises.

Each objective owns the module whose weights it updates and, with more than one process,
wraps THAT module in its own DistributedDataParallel and runs the forward pass through the
wrapper: gradients are all-reduced only for a forward made through DDP, so calling a
submodule of a DDP-wrapped model directly (as the cascade's stages do) trains every process
on its own shard, unsynchronised.

An objective returns its losses with the weights it actually applied (``beta1``, ``beta2``),
so the log says what was optimised rather than what the schedule would have been.
"""

from __future__ import annotations

import torch
from torch import nn

from mtvif_ros.losses import FusionLoss, OhemCrossEntropy, seg_weight
from mtvif_ros.train.config import TrainConfig

Losses = dict[str, torch.Tensor | float]


def wrap_ddp(module: nn.Module, world: int, device: torch.device) -> nn.Module:
    """``module`` in DistributedDataParallel when there are several processes, else itself."""
    if world <= 1:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


class Objective:
    """Base: the trained module (called through ``self.net``), the losses and weights."""

    def __init__(
        self, module: nn.Module, cfg: TrainConfig, device: torch.device, world: int
    ) -> None:
        self.cfg = cfg
        self.net = wrap_ddp(module, world, device)
        self.fusion_loss = FusionLoss(cfg.gradient_weight, cfg.ssim_weight).to(device)
        self.seg_loss = OhemCrossEntropy(cfg.ohem_thresh)

    def __call__(
        self, vis: torch.Tensor, ir: torch.Tensor, labels: torch.Tensor, step: int
    ) -> Losses:
        """Losses of one batch at ``step``: ``loss`` (to minimise), its parts and weights."""
        raise NotImplementedError

    @staticmethod
    def losses(
        total: torch.Tensor,
        parts: dict[str, torch.Tensor],
        seg: torch.Tensor,
        beta1: float,
        beta2: float,
    ) -> Losses:
        """The row every objective returns, in the log's column order."""
        return {
            "loss": total,
            "fusion": parts["fusion"],
            "intensity": parts["intensity"],
            "gradient": parts["gradient"],
            "seg": seg,
            "beta1": beta1,
            "beta2": beta2,
        }


class MultiTask(Objective):
    """MultiTaskVIF in one stage: β1·L_fusion + β2(step)·L_seg, β2 ramped in after warm-up."""

    def __call__(
        self, vis: torch.Tensor, ir: torch.Tensor, labels: torch.Tensor, step: int
    ) -> Losses:
        cfg = self.cfg
        beta2 = seg_weight(step, cfg.beta2, cfg.seg_warmup_steps, cfg.seg_ramp_steps)
        fused, logits = self.net(vis, ir)
        parts = self.fusion_loss(fused, vis, ir)
        seg = self.seg_loss(logits, labels)
        total = cfg.beta1 * parts["fusion"] + beta2 * seg
        return self.losses(total, parts, seg, cfg.beta1, beta2)


class CascadeFusion(Objective):
    """Cascade stage 1: the fusion network alone, β1·L_fusion (no segmentation: β2 = 0)."""

    def __call__(
        self, vis: torch.Tensor, ir: torch.Tensor, labels: torch.Tensor, step: int
    ) -> Losses:
        fused = self.net(vis, ir)
        parts = self.fusion_loss(fused, vis, ir)
        seg = torch.zeros((), device=vis.device)
        return self.losses(self.cfg.beta1 * parts["fusion"], parts, seg, self.cfg.beta1, 0.0)


class CascadeSegmenter(Objective):
    """Cascade stage 2: the segmenter on the frozen fusion network's output, L_seg alone.

    The fusion loss is still reported (β1 = 0) to show the frozen network's quality.
    """

    def __init__(
        self,
        fusion: nn.Module,
        segmenter: nn.Module,
        cfg: TrainConfig,
        device: torch.device,
        world: int,
    ) -> None:
        super().__init__(segmenter, cfg, device, world)
        self.fusion = fusion

    def __call__(
        self, vis: torch.Tensor, ir: torch.Tensor, labels: torch.Tensor, step: int
    ) -> Losses:
        with torch.no_grad():
            fused = self.fusion(vis, ir)
        parts = self.fusion_loss(fused, vis, ir)
        seg = self.seg_loss(self.net(fused), labels)
        return self.losses(seg, parts, seg, 0.0, 1.0)


def build_objectives(
    model: nn.Module, cfg: TrainConfig, device: torch.device, world: int
) -> list[tuple[int, Objective]]:
    """(first step, objective) of each training stage, in order."""
    if cfg.architecture != "cascade":
        return [(0, MultiTask(model, cfg, device, world))]
    split = cfg.cascade_fusion_steps or cfg.steps // 2
    return [
        (0, CascadeFusion(model.fusion, cfg, device, world)),
        (split, CascadeSegmenter(model.fusion, model.segmenter, cfg, device, world)),
    ]
