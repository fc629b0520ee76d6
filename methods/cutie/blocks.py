"""Cutie's own convolutional blocks, with the official state-dict names: the
channel-attention residual block, the fusion of a frame's features with per-object
features, and the sine positional encoding of the key grid."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class CAResBlock(nn.Module):
    """y = conv2(relu(conv1(relu(x)))) (3x3), gated per channel by an ECA gate (a 1-D
    convolution without bias over the channels' means, then a sigmoid), plus x."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        t = int((abs(math.log2(channels)) + 1) // 2)
        k = t if t % 2 else t + 1  # the ECA kernel width: 5 for 256 channels
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(F.relu(x))))
        gate = torch.sigmoid(self.conv(y.mean(dim=(2, 3))[:, None, :]))  # [B, 1, C]
        return y * gate[:, 0, :, None, None] + x


class Distributor(nn.Module):
    """x_transform(x) + g_transform(g): the frame's features x [1, Cx, h, w] added to
    each object's features g [K, Cg, h, w] (1x1 convs)."""

    def __init__(self, x_channels: int, g_channels: int, out_channels: int):
        super().__init__()
        self.x_transform = nn.Conv2d(x_channels, out_channels, 1)
        self.g_transform = nn.Conv2d(g_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.x_transform(x) + self.g_transform(g)


class FusionBlock(nn.Module):
    """A ``fuser`` (official GroupFeatureFusionBlock): the distributor's sum through two
    CAResBlocks."""

    def __init__(self, x_channels: int, g_channels: int, out_channels: int):
        super().__init__()
        self.distributor = Distributor(x_channels, g_channels, out_channels)
        self.block1 = CAResBlock(out_channels)
        self.block2 = CAResBlock(out_channels)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.block2(self.block1(self.distributor(x, g)))


class PositionalEncoding(nn.Module):
    """Sine encoding of grid positions [h * w, 2 * C] (raster order): coordinates scaled
    to [0, ``scale``], then (sin, cos) interleaved at the frequencies ``inv_freq`` (a
    buffer every checkpoint carries), the x half first."""

    def __init__(self, dim: int = 256, scale: float = 32.0, temperature: float = 128.0):
        super().__init__()
        channels = int(math.ceil(dim / 4) * 2)
        self.register_buffer("inv_freq", 1.0 / (temperature ** (torch.arange(0, channels, 2).float() / channels)))
        self.scale = scale
        self._cache: tuple[tuple, torch.Tensor] | None = None

    def _axis(self, length: int) -> torch.Tensor:
        pos = torch.arange(length, device=self.inv_freq.device, dtype=self.inv_freq.dtype)
        pos = pos / (pos[-1] + 1e-6) * self.scale
        angle = torch.outer(pos, self.inv_freq)
        return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)  # [length, C]

    def forward(self, h: int, w: int) -> torch.Tensor:
        key = (h, w, self.inv_freq.device)
        if self._cache is None or self._cache[0] != key:
            ex, ey = self._axis(w), self._axis(h)
            pe = torch.cat([ex[None].expand(h, -1, -1), ey[:, None].expand(-1, w, -1)], dim=-1)
            self._cache = (key, pe.reshape(h * w, -1))
        return self._cache[1]
