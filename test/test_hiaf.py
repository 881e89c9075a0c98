"""HIA-F must be linear in the pixel count: channel (C×C) attention, never HW×HW."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from mtvif_ros.model.hiaf import HIAF, ChannelCrossAttention


class _LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an op produces."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def _flops_and_peak(module: torch.nn.Module, h: int, w: int, c: int) -> tuple[int, int]:
    a, b = torch.rand(1, c, h, w), torch.rand(1, c, h, w)
    with torch.no_grad(), FlopCounterMode(display=False) as fc, _LargestTensor() as big:
        module(a, b)
    return fc.get_total_flops(), big.largest


def test_hiaf_cost_and_largest_tensor_scale_linearly_with_pixels() -> None:
    c = 32
    hiaf = HIAF(c, dim=16, heads=2).eval()
    f1, p1 = _flops_and_peak(hiaf, 32, 32, c)
    f4, p4 = _flops_and_peak(hiaf, 64, 64, c)  # 4× the pixels
    # linear: ratio 4; an HW×HW attention would give ~16 for FLOPs and 16 for its map size
    assert 3.8 < f4 / f1 < 4.2
    assert p4 <= 4 * p1
    assert p4 <= 2 * c * 64 * 64  # no tensor larger than a couple of feature maps


def test_attention_map_is_channels_by_channels() -> None:
    attn = ChannelCrossAttention(dim=16, heads=2)
    seen = []

    class _Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func.__name__.startswith("_softmax"):
                seen.append(tuple(out.shape))
            return out

    with torch.no_grad(), _Record():
        out = attn(torch.rand(1, 16, 30, 40), torch.rand(1, 16, 30, 40))
    assert out.shape == (1, 16, 30, 40)
    assert seen == [(1, 2, 8, 8)]  # batch × heads × C_h × C_h


def test_hiaf_runs_at_480x640() -> None:
    hiaf = HIAF(32, dim=16, heads=2).eval()
    with torch.inference_mode():
        out = hiaf(torch.rand(1, 32, 480, 640), torch.rand(1, 32, 480, 640))
    assert out.shape == (1, 32, 480, 640) and torch.isfinite(out).all()


def test_segmentation_feature_changes_the_fusion_output() -> None:
    """The seg side really feeds the fusion side (the interaction is not a no-op)."""
    torch.manual_seed(0)
    hiaf = HIAF(16, dim=8, heads=2).eval()
    f_re = torch.rand(1, 16, 20, 20)
    with torch.no_grad():
        a = hiaf(f_re, torch.rand(1, 16, 20, 20))
        b = hiaf(f_re, torch.rand(1, 16, 20, 20))
    assert (a - b).abs().max() > 1e-4
