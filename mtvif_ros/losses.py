"""Training losses of MultiTaskVIF: L_total = β1·L_fusion + β2·L_seg.

Fusion (SeAFusion's formulation): intensity L1 to the pixel-wise maximum of the sources
plus 10× an L1 between Sobel gradient magnitudes and the maximum source gradient, so the
fused image keeps the brighter (hotter) target and the stronger edge of either source.
Segmentation: OHEM cross-entropy, as in SeAFusion/BiSeNet.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mtvif_ros.classes import IGNORE_INDEX
from mtvif_ros.model.blocks import SobelMagnitude


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(a: torch.Tensor, b: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of N×1×H×W images in [0, 1] (Gaussian 11×11, σ=1.5, 'same' padding)."""
    c1, c2 = 0.01**2, 0.03**2
    pad = window.shape[-1] // 2
    mu_a, mu_b = F.conv2d(a, window, padding=pad), F.conv2d(b, window, padding=pad)
    va = F.conv2d(a * a, window, padding=pad) - mu_a**2
    vb = F.conv2d(b * b, window, padding=pad) - mu_b**2
    cov = F.conv2d(a * b, window, padding=pad) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (va + vb + c2)
    return (num / den).mean()


class FusionLoss(nn.Module):
    """intensity + gradient_weight·gradient (+ ssim_weight·(1 − mean SSIM to both sources))."""

    def __init__(self, gradient_weight: float = 10.0, ssim_weight: float = 0.0) -> None:
        super().__init__()
        self.gradient_weight = gradient_weight
        self.ssim_weight = ssim_weight
        self.sobel = SobelMagnitude(1)
        self.register_buffer("window", _gaussian_window(), persistent=False)

    def forward(
        self, fused: torch.Tensor, vis_y: torch.Tensor, ir: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        fused = fused.float()
        intensity = F.l1_loss(fused, torch.maximum(vis_y, ir))
        grad_target = torch.maximum(self.sobel(vis_y), self.sobel(ir))
        gradient = F.l1_loss(self.sobel(fused), grad_target)
        total = intensity + self.gradient_weight * gradient
        out = {"intensity": intensity, "gradient": gradient}
        if self.ssim_weight > 0:
            s = 0.5 * (ssim(fused, vis_y, self.window) + ssim(fused, ir, self.window))
            out["ssim"] = 1 - s
            total = total + self.ssim_weight * out["ssim"]
        out["fusion"] = total
        return out


class OhemCrossEntropy(nn.Module):
    """Cross-entropy over the hardest pixels: those whose true-class probability is below
    ``thresh`` (loss > −log thresh), and at least ``min_kept_ratio`` of the valid pixels.
    Pixels labelled ``ignore_index`` (and whole unlabelled images) contribute nothing; a
    batch without any labelled pixel gives a zero loss that still back-propagates."""

    def __init__(
        self, thresh: float = 0.7, min_kept_ratio: float = 1 / 16, ignore_index: int = IGNORE_INDEX
    ) -> None:
        super().__init__()
        self.loss_thresh = -math.log(thresh)
        self.min_kept_ratio = min_kept_ratio
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pixel = F.cross_entropy(
            logits.float(), target, ignore_index=self.ignore_index, reduction="none"
        ).flatten()
        valid = target.flatten() != self.ignore_index
        n_valid = int(valid.sum())
        if n_valid == 0:
            return logits.sum() * 0.0
        losses = pixel[valid]
        hard = losses[losses > self.loss_thresh]
        n_min = max(1, int(n_valid * self.min_kept_ratio))
        if hard.numel() < n_min:
            hard = torch.topk(losses, n_min).values
        return hard.mean()


def seg_weight(step: int, beta2: float, warmup_steps: int, ramp_steps: int) -> float:
    """β2 schedule: 0 during warm-up (fusion learns first), then a linear ramp to β2."""
    if step < warmup_steps:
        return 0.0
    if ramp_steps <= 0:
        return beta2
    return beta2 * min(1.0, (step - warmup_steps + 1) / ramp_steps)
