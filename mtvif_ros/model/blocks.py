"""Small building blocks shared by the backbones, the multi-task head and the baselines."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvAct(nn.Sequential):
    """3×3 (or k×k) convolution + optional batch norm + activation ('lrelu', 'relu', none)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int = 3,
        act: str | None = "lrelu",
        bn: bool = False,
        dilation: int = 1,
        stride: int = 1,
    ) -> None:
        pad = dilation * (k // 2)
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, padding=pad, dilation=dilation, bias=not bn)
        ]
        if bn:
            layers.append(nn.BatchNorm2d(cout))
        if act == "lrelu":
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        elif act == "relu":
            layers.append(nn.ReLU(inplace=True))
        elif act is not None:
            raise ValueError(f"unknown activation '{act}'")
        super().__init__(*layers)


class SobelMagnitude(nn.Module):
    """Per-channel |Sobel_x| + |Sobel_y| with fixed (non-learned) kernels.

    The gradient branch of SeAFusion's residual dense block: it hands the block explicit
    edge strength, which is what fusion must preserve from both sources.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        kernel = torch.stack((kx, kx.t())).unsqueeze(1).repeat(channels, 1, 1, 1)
        self.register_buffer("kernel", kernel, persistent=False)
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = F.conv2d(x, self.kernel.to(x.dtype), padding=1, groups=self.channels)
        gx, gy = g[:, 0::2], g[:, 1::2]
        return gx.abs() + gy.abs()


class DenseBlock(nn.Module):
    """Two densely connected 3×3 conv layers: output has 3× the input channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvAct(channels, channels)
        self.conv2 = ConvAct(2 * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat((x, self.conv1(x)), 1)
        return torch.cat((x, self.conv2(x)), 1)


class GradientResidualDenseBlock(nn.Module):
    """SeAFusion's RGBD: dense conv path + Sobel-gradient residual path, summed."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.dense = DenseBlock(cin)
        self.dense_out = nn.Conv2d(3 * cin, cout, 1)
        self.sobel = SobelMagnitude(cin)
        self.grad_out = nn.Conv2d(cin, cout, 1)
        self.act = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense_out(self.dense(x)) + self.grad_out(self.sobel(x)))


class LayerNorm2d(nn.Module):
    """Layer norm over channels at every pixel (N, C, H, W), as in Restormer-style attention."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        x = (x - mu) * torch.rsqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class DepthwiseResidual(nn.Module):
    """x + BN(1×1(ReLU(BN(depthwise 3×3, dilated)))), then ReLU: a MobileNet-style block.

    Cheap context at low resolution: the depthwise conv grows the receptive field (by
    ``2·dilation`` pixels of its scale) for 9·C multiply-adds per pixel, the 1×1 mixes.
    """

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        c = channels
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation, groups=c, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class GlobalContext(nn.Module):
    """ParseNet-style global context: the image-wide mean of the feature, reduced and
    concatenated back to every pixel, then mixed. Every output pixel sees the whole image,
    which is what tells a car from a patch of warm road. (A mean exports to ONNX for any
    input size, unlike PSPNet's adaptive grid pooling, which is fixed at export.)"""

    def __init__(self, channels: int) -> None:
        super().__init__()
        r = channels // 4
        self.reduce = ConvAct(channels, r, k=1, act="relu")  # no BN: one value per channel
        self.out = ConvAct(channels + r, channels, k=1, act="relu", bn=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.reduce(x.mean((2, 3), keepdim=True)).expand(-1, -1, *x.shape[-2:])
        return self.out(torch.cat((x, g), 1))
