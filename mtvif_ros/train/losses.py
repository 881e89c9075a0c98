"""Training losses of MultiTaskVIF: L_total = β1·L_fusion + β2·L_seg.

Fusion (SeAFusion's formulation): intensity L1 to the pixel-wise maximum of the sources
plus 10× an L1 between Sobel gradient magnitudes and the maximum source gradient, so the
fused image keeps the brighter (hotter) target and the stronger edge of either source. It
is averaged over the samples that have a real IR image (a visible-only sample has nothing
to fuse). Segmentation: OHEM cross-entropy on pixel labels, as in SeAFusion/BiSeNet (for
labels that name only car/person/bike, such as CamVid's, a variant that does not call
everything else background); for pairs with object boxes only (boxes are not masks),
BoxInst's projection term inside each box and, outside every box of a box class, a term
against that class.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mtvif_ros.classes import IGNORE_INDEX
from mtvif_ros.data.boxes import BOX_CLASSES
from mtvif_ros.model.blocks import SobelMagnitude


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim_map(a: torch.Tensor, b: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """The SSIM of every pixel (N×1×H×W), so a per-sample mean can be taken."""
    c1, c2 = 0.01**2, 0.03**2
    pad = window.shape[-1] // 2
    mu_a, mu_b = F.conv2d(a, window, padding=pad), F.conv2d(b, window, padding=pad)
    va = F.conv2d(a * a, window, padding=pad) - mu_a**2
    vb = F.conv2d(b * b, window, padding=pad) - mu_b**2
    cov = F.conv2d(a * b, window, padding=pad) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (va + vb + c2)
    return num / den


def masked_mean(per_sample: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of the values (per sample or per pixel) where ``mask`` holds, all when None; a
    differentiable zero where none does, so such a batch still back-propagates."""
    if mask is None:
        return per_sample.mean()
    mask = mask.to(per_sample.dtype)
    return (per_sample * mask).sum() / mask.sum().clamp(min=1.0)


def _per_sample_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per sample, in float32 (as F.l1_loss under autocast)."""
    return (a.float() - b.float()).abs().flatten(1).mean(1)


class FusionLoss(nn.Module):
    """intensity + gradient_weight·gradient (+ ssim_weight·(1 − mean SSIM to both sources))."""

    def __init__(self, gradient_weight: float = 10.0, ssim_weight: float = 0.0) -> None:
        super().__init__()
        self.gradient_weight = gradient_weight
        self.ssim_weight = ssim_weight
        self.sobel = SobelMagnitude(1)
        self.register_buffer("window", _gaussian_window(), persistent=False)

    def forward(
        self,
        fused: torch.Tensor,
        vis_y: torch.Tensor,
        ir: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Each term averaged over the samples where ``mask`` (N bools: the IR is real)
        holds, all samples when None."""
        fused = fused.float()
        intensity = _per_sample_l1(fused, torch.maximum(vis_y, ir))
        grad_target = torch.maximum(self.sobel(vis_y), self.sobel(ir))
        gradient = _per_sample_l1(self.sobel(fused), grad_target)
        out = {"intensity": intensity, "gradient": gradient}
        total = intensity + self.gradient_weight * gradient
        if self.ssim_weight > 0:
            s = ssim_map(fused, vis_y, self.window) + ssim_map(fused, ir, self.window)
            out["ssim"] = 1 - 0.5 * s.flatten(1).mean(1)
            total = total + self.ssim_weight * out["ssim"]
        out["fusion"] = total
        return {k: masked_mean(v, mask) for k, v in out.items()}


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
        )
        return self.hardest_mean(logits, pixel, target != self.ignore_index)

    def hardest_mean(
        self,
        logits: torch.Tensor,
        pixel: torch.Tensor,
        valid: torch.Tensor,
        weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean of the hard ones among the ``valid`` pixel losses (zero, with a gradient
        path through ``logits``, when none is valid), weighted by ``weight`` per pixel if
        given (which pixels are hard is decided on the unweighted losses)."""
        pixel, valid = pixel.flatten(), valid.flatten()
        n_valid = int(valid.sum())
        if n_valid == 0:
            return logits.sum() * 0.0
        losses = pixel[valid]
        n_min = max(1, int(n_valid * self.min_kept_ratio))
        keep = losses > self.loss_thresh
        if int(keep.sum()) < n_min:
            keep = torch.zeros_like(keep)
            keep[torch.topk(losses, n_min).indices] = True
        if weight is None:
            return losses[keep].mean()
        w = weight.flatten()[valid][keep]
        return (losses[keep] * w).sum() / w.sum()


class KnownClassesCrossEntropy(OhemCrossEntropy):
    """OHEM cross-entropy for labels that name some classes only (CamVid: car, person,
    bike). A pixel of a known class is that class (cross-entropy); any other labelled
    pixel is *one of the other classes*, −log Σ_{c ∉ known} p_c, not class 0 in
    particular: CamVid labels no curb, bump or cone as such, so it must not teach that
    they are background."""

    def __init__(
        self,
        known: tuple[int, ...] = BOX_CLASSES,
        thresh: float = 0.7,
        min_kept_ratio: float = 1 / 16,
        ignore_index: int = IGNORE_INDEX,
        weights: tuple[float, ...] = (),
    ) -> None:
        super().__init__(thresh, min_kept_ratio, ignore_index)
        self.known = known
        if weights and len(weights) != len(known):
            raise ValueError(f"{len(weights)} class weights for {len(known)} known classes")
        # per-pixel weight by target: the known classes' weights, 1 for every other pixel
        # (rare classes such as person and bike weigh more, as ENet's class weights do)
        table = torch.ones(256)
        for c, w in zip(known, weights, strict=False):
            table[c] = float(w)
        self.register_buffer("class_weight", table if weights else None, persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        ce = F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction="none")
        other = [c for c in range(logits.shape[1]) if c not in self.known]
        not_known = torch.logsumexp(logits, 1) - torch.logsumexp(logits[:, other], 1)
        is_known = torch.isin(target, torch.tensor(self.known, device=target.device))
        pixel = torch.where(is_known, ce, not_known)
        weight = None if self.class_weight is None else self.class_weight.to(logits.device)[target]
        return self.hardest_mean(logits, pixel, target != self.ignore_index, weight)


BoxMasks = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def box_masks(boxes: torch.Tensor, height: int, width: int) -> BoxMasks:
    """(sample index M, class M, rows M×H, columns M×W) of the boxes of an N×K×5 tensor
    (``cls x0 y0 x1 y1`` in pixels, cls −1 for padding) that cover at least one pixel
    centre; a box covers the pixels whose centres lie inside it."""
    n, k = torch.nonzero(boxes[..., 0] >= 0, as_tuple=True)
    b = boxes[n, k].float()
    x0, y0, x1, y1 = (v[:, None] for v in (b[:, 1:] - 0.5).ceil().unbind(1))
    ys = torch.arange(height, device=boxes.device)[None]
    xs = torch.arange(width, device=boxes.device)[None]
    rows, cols = (ys >= y0) & (ys < y1), (xs >= x0) & (xs < x1)
    keep = rows.any(1) & cols.any(1)
    return n[keep], b[keep, 0].long(), rows[keep], cols[keep]


def _dice(x: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """BoxInst's dice loss along the last dimension."""
    inter = (x * target).sum(-1)
    return 1.0 - 2.0 * inter / ((x * x).sum(-1) + (target * target).sum(-1) + eps)


class BoxProjectionLoss(nn.Module):
    """BoxInst's projection term, per box of class c, on the softmax probability of c.

    Inside the box, the maximum over its rows of p_c in each of its columns (the
    prediction's projection on the x axis) must match the box's projection, all ones; the
    same along the y axis; dice on each projection, the two summed, averaged over boxes.
    Any shape that touches every row and column of its box scores ≈ 0, the box painted
    full as well as a person's silhouette: boxes are not masks. What lies outside the box
    is the negative term's business (another box of the class may cover it).
    """

    def forward(self, logits: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        n, cls, rows, cols = box_masks(boxes, *logits.shape[-2:])
        if n.numel() == 0:
            return logits.sum() * 0.0
        probs = logits.float().softmax(1)[n, cls]  # M×H×W
        inside = probs * (rows[:, :, None] & cols[:, None, :])
        proj_x, proj_y = inside.amax(1), inside.amax(2)
        loss = _dice(proj_x, cols.float()) + _dice(proj_y, rows.float())
        return loss.mean()


class BoxNegativeLoss(nn.Module):
    """No class c outside every box of class c: mean −log(1 − p_c) over those pixels, for
    c in ``classes`` (car, person, bike), on the images with box supervision only (an
    image without boxes says nothing about where its objects are)."""

    def __init__(self, classes: tuple[int, ...] = BOX_CLASSES) -> None:
        super().__init__()
        self.classes = classes

    def forward(
        self, logits: torch.Tensor, boxes: torch.Tensor, supervised: torch.Tensor
    ) -> torch.Tensor:
        logits = logits.float()
        nb, nc, h, w = logits.shape
        covered = logits.new_zeros(nb, len(self.classes), h, w)
        slot = torch.full((nc,), -1, dtype=torch.long, device=logits.device)
        slot[list(self.classes)] = torch.arange(len(self.classes), device=logits.device)
        n, cls, rows, cols = box_masks(boxes, h, w)
        j = slot[cls]
        ok = j >= 0
        inside = (rows[:, :, None] & cols[:, None, :])[ok].float()
        covered.index_put_((n[ok], j[ok]), inside, accumulate=True)
        log_all = torch.logsumexp(logits, 1)
        nll = [log_all - torch.logsumexp(_without(logits, c), 1) for c in self.classes]
        outside = (covered == 0) & supervised.bool()[:, None, None, None]
        return masked_mean(torch.stack(nll, 1).flatten(), outside.flatten())


def _without(logits: torch.Tensor, c: int) -> torch.Tensor:
    """The logits of every class but ``c``."""
    return torch.cat((logits[:, :c], logits[:, c + 1 :]), 1)


def seg_weight(step: int, beta2: float, warmup_steps: int, ramp_steps: int) -> float:
    """β2 schedule: 0 during warm-up (fusion learns first), then a linear ramp to β2."""
    if step < warmup_steps:
        return 0.0
    if ramp_steps <= 0:
        return beta2
    return beta2 * min(1.0, (step - warmup_steps + 1) / ramp_steps)
