"""HIA-F: hierarchical interactive attention for fusion reconstruction.

The segmentation branch's feature ``f_seg`` is injected into the fusion branch's feature
``f_re``. A channel embedding (CE) turns each input into a high-level and a low-level token
set; two cross-attentions pair them level by level (high×high → ``f_h``, low×low →
``f_l``); the aggregation adds both, projected, to the ``f_re`` skip and gives ``f_RE``.

Attention is "transposed" (channel) attention as in Restormer/SegMiF's HIA: per head the
attention map is C_h×C_h, computed from L2-normalized Q and K whose rows are whole
feature maps, so cost and memory are linear in the number of pixels. A 480×640 frame has
~307k tokens, where pixel (HW×HW) attention would need hundreds of GB.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtvif_ros.model.blocks import LayerNorm2d


class ChannelEmbedding(nn.Module):
    """CE: features (C) → (high tokens, low tokens), each ``dim`` channels.

    Both come from one normalized 1×1 projection split in halves. The low-level half stays
    pixel-local; the high-level half goes through two depthwise 3×3 convolutions (the
    second dilated), so its tokens summarize a neighbourhood and carry more context.
    """

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        self.norm = LayerNorm2d(channels)
        self.proj = nn.Conv2d(channels, 2 * dim, 1)
        self.context = nn.Sequential(
            nn.Conv2d(dim, dim, 3, padding=1, groups=dim),
            nn.GELU(),
            nn.Conv2d(dim, dim, 3, padding=2, dilation=2, groups=dim),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        high, low = self.proj(self.norm(x)).chunk(2, dim=1)
        return self.context(high), low


class ChannelCrossAttention(nn.Module):
    """Multi-head cross-attention over channels, linear in H·W.

    Query = fusion tokens, key/value = segmentation tokens. The output must live in the
    fusion stream: each output channel is indexed by a query (fusion) channel and is a
    softmax-weighted mix of segmentation value maps. So the fusion feature asks which
    semantic channels matter to it, and semantic content flows into reconstruction, which
    is the direction HIA-F exists for (segmentation guiding fusion).
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q = nn.Conv2d(dim, dim, 1)
        self.kv = nn.Conv2d(dim, 2 * dim, 1)
        self.out = nn.Conv2d(dim, dim, 1)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, h, w = query.shape
        q = self.q(query).reshape(b, self.heads, c // self.heads, h * w)
        k, v = self.kv(context).reshape(b, 2, self.heads, c // self.heads, h * w).unbind(1)
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1)) * self.temperature  # b × heads × C_h × C_h
        out = attn.softmax(dim=-1) @ v
        return self.out(out.reshape(b, c, h, w))


class HIAF(nn.Module):
    """f_RE = f_re + Aggregate(CrossAttn(high_re, high_seg), CrossAttn(low_re, low_seg))."""

    def __init__(self, channels: int, dim: int, heads: int) -> None:
        super().__init__()
        self.embed_re = ChannelEmbedding(channels, dim)
        self.embed_seg = ChannelEmbedding(channels, dim)
        self.attn_high = ChannelCrossAttention(dim, heads)
        self.attn_low = ChannelCrossAttention(dim, heads)
        self.aggregate = nn.Conv2d(2 * dim, channels, 1)

    def forward(self, f_re: torch.Tensor, f_seg: torch.Tensor) -> torch.Tensor:
        re_high, re_low = self.embed_re(f_re)
        seg_high, seg_low = self.embed_seg(f_seg)
        f_h = self.attn_high(re_high, seg_high)
        f_l = self.attn_low(re_low, seg_low)
        return f_re + self.aggregate(torch.cat((f_h, f_l), 1))
