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

from dataclasses import dataclass

import torch
from torch import nn

from mtvif_ros.classes import IGNORE_INDEX
from mtvif_ros.train.config import TrainConfig
from mtvif_ros.train.data import SOURCE_CAMVID
from mtvif_ros.train.losses import (
    BoxNegativeLoss,
    BoxProjectionLoss,
    FusionLoss,
    KnownClassesCrossEntropy,
    OhemCrossEntropy,
    seg_weight,
)

Losses = dict[str, torch.Tensor | float]


@dataclass
class Batch:
    """One batch on the device, with what supervises each sample (see ``data.py``).

    ``any_camvid`` and ``any_boxes`` are read on the host before the copy, so deciding
    which terms to compute never waits for the device.
    """

    vis_y: torch.Tensor  # the visible image's luma, as the network takes it
    ir: torch.Tensor
    labels: torch.Tensor
    has_ir: torch.Tensor
    source: torch.Tensor
    boxes: torch.Tensor
    has_boxes: torch.Tensor
    any_camvid: bool = False
    any_boxes: bool = False

    @classmethod
    def of(cls, batch: dict[str, torch.Tensor], device: torch.device) -> Batch:
        """From a loader batch (the keys of ``data.sample_tensors``)."""
        t = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        return cls(
            t["vis_y"],
            t["ir"],
            t["labels"],
            t["has_ir"],
            t["source"],
            t["boxes"],
            t["has_boxes"],
            any_camvid=bool((batch["source"] == SOURCE_CAMVID).any()),
            any_boxes=bool(batch["has_boxes"].any()),
        )


def wrap_ddp(module: nn.Module, world: int, device: torch.device) -> nn.Module:
    """``module`` in DistributedDataParallel when there are several processes, else itself."""
    if world <= 1:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


class Objective:
    """Base: the trained module (called through ``self.net``), the losses and weights.

    L_seg = L_ce + camvid_weight·L_camvid + box_weight·L_proj + box_negative_weight·L_neg:
    OHEM cross-entropy on the pixel labels of the non-CamVid samples (synthetic scenes,
    labelled folders); its CamVid counterpart, where a pixel that is no car, person or
    bike is "one of the other classes" (``KnownClassesCrossEntropy``); the box projection
    and outside-boxes terms on the box-supervised pairs. Each is 0 in a batch without such
    samples. The fusion loss is averaged over the samples whose IR is real (``has_ir``).
    """

    def __init__(
        self, module: nn.Module, cfg: TrainConfig, device: torch.device, world: int
    ) -> None:
        self.cfg = cfg
        self.net = wrap_ddp(module, world, device)
        self.fusion_loss = FusionLoss(cfg.gradient_weight, cfg.ssim_weight).to(device)
        self.seg_loss = OhemCrossEntropy(cfg.ohem_thresh)
        self.camvid_loss = KnownClassesCrossEntropy(
            thresh=cfg.ohem_thresh, weights=tuple(cfg.camvid_class_weights)
        )
        self.box_projection = BoxProjectionLoss()
        self.box_negative = BoxNegativeLoss()

    def __call__(self, batch: Batch, step: int) -> Losses:
        """Losses of one batch at ``step``: ``loss`` (to minimise), its parts and weights."""
        raise NotImplementedError

    def fusion_parts(self, fused: torch.Tensor, b: Batch) -> dict[str, torch.Tensor]:
        """The fusion loss and its terms over the samples with a real IR image."""
        return self.fusion_loss(fused, b.vis_y, b.ir, b.has_ir)

    def seg_parts(self, logits: torch.Tensor, b: Batch) -> dict[str, torch.Tensor]:
        """Every term of L_seg, and ``seg`` (their weighted sum)."""
        cfg, zero = self.cfg, logits.new_zeros((), dtype=torch.float32)
        ce, ce_camvid, proj, neg = zero, zero, zero, zero
        if b.any_camvid:
            camvid = (b.source == SOURCE_CAMVID)[:, None, None]
            ce = self.seg_loss(logits, b.labels.masked_fill(camvid, IGNORE_INDEX))
            ce_camvid = self.camvid_loss(logits, b.labels.masked_fill(~camvid, IGNORE_INDEX))
        else:
            ce = self.seg_loss(logits, b.labels)
        if b.any_boxes:
            proj = self.box_projection(logits, b.boxes)
            neg = self.box_negative(logits, b.boxes, b.has_boxes)
        seg = (
            ce
            + cfg.camvid_weight * ce_camvid
            + cfg.box_weight * proj
            + cfg.box_negative_weight * neg
        )
        return {
            "seg": seg,
            "seg_ce": ce,
            "seg_camvid": ce_camvid,
            "box_proj": proj,
            "box_neg": neg,
        }

    @staticmethod
    def losses(
        total: torch.Tensor,
        parts: dict[str, torch.Tensor],
        seg: dict[str, torch.Tensor],
        beta1: float,
        beta2: float,
        b: Batch,
    ) -> Losses:
        """The row every objective returns, in the log's column order (the columns of
        earlier versions first)."""
        return {
            "loss": total,
            "fusion": parts["fusion"],
            "intensity": parts["intensity"],
            "gradient": parts["gradient"],
            "seg": seg["seg"],
            "beta1": beta1,
            "beta2": beta2,
            "seg_ce": seg["seg_ce"],
            "seg_camvid": seg["seg_camvid"],
            "box_proj": seg["box_proj"],
            "box_neg": seg["box_neg"],
            "fusion_samples": b.has_ir.sum(),
        }

    @staticmethod
    def no_seg(like: torch.Tensor) -> dict[str, torch.Tensor]:
        """The L_seg terms of a stage without segmentation: zeros."""
        zero = like.new_zeros((), dtype=torch.float32)
        return dict.fromkeys(("seg", "seg_ce", "seg_camvid", "box_proj", "box_neg"), zero)


class MultiTask(Objective):
    """MultiTaskVIF in one stage: β1·L_fusion + β2(step)·L_seg, β2 ramped in after warm-up."""

    def __call__(self, batch: Batch, step: int) -> Losses:
        cfg = self.cfg
        beta2 = seg_weight(step, cfg.beta2, cfg.seg_warmup_steps, cfg.seg_ramp_steps)
        fused, logits = self.net(batch.vis_y, batch.ir)
        parts = self.fusion_parts(fused, batch)
        seg = self.seg_parts(logits, batch)
        total = cfg.beta1 * parts["fusion"] + beta2 * seg["seg"]
        return self.losses(total, parts, seg, cfg.beta1, beta2, batch)


class CascadeFusion(Objective):
    """Cascade stage 1: the fusion network alone, β1·L_fusion (no segmentation: β2 = 0)."""

    def __call__(self, batch: Batch, step: int) -> Losses:
        fused = self.net(batch.vis_y, batch.ir)
        parts = self.fusion_parts(fused, batch)
        total = self.cfg.beta1 * parts["fusion"]
        return self.losses(total, parts, self.no_seg(fused), self.cfg.beta1, 0.0, batch)


class CascadeSegmenter(Objective):
    """Cascade stage 2: the segmenter on the frozen fusion network's output, L_seg alone
    (every term, as in MultiTask).

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

    def __call__(self, batch: Batch, step: int) -> Losses:
        with torch.no_grad():
            fused = self.fusion(batch.vis_y, batch.ir)
        parts = self.fusion_parts(fused, batch)
        seg = self.seg_parts(self.net(fused), batch)
        return self.losses(seg["seg"], parts, seg, 0.0, 1.0, batch)


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
