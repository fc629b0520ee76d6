"""SAM 2's memory encoder: a frame's mask (scaled sigmoid of its logits at 1024 x 1024)
downsampled 16x by strided convolutions, added to a projection of the frame's raw
stride-16 features, fused by two ConvNeXt blocks and projected to 64 channels."""

from __future__ import annotations

import torch
from torch import nn

from methods.sam2.layers import LayerNorm2d


class MaskDownSampler(nn.Module):
    def __init__(self, dim: int = 256, steps: int = 4):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for _ in range(steps):
            out = channels * 4
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), LayerNorm2d(out), nn.GELU()]
            channels = out
        layers.append(nn.Conv2d(channels, dim, 1))
        self.encoder = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


class CXBlock(nn.Module):
    def __init__(self, dim: int = 256):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = LayerNorm2d(dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    def __init__(self, dim: int = 256, layers: int = 2):
        super().__init__()
        self.layers = nn.ModuleList(CXBlock(dim) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    def __init__(self, dim: int = 256, out_dim: int = 64):
        super().__init__()
        self.mask_downsampler = MaskDownSampler(dim)
        self.pix_feat_proj = nn.Conv2d(dim, dim, 1)
        self.fuser = Fuser(dim)
        self.out_proj = nn.Conv2d(dim, out_dim, 1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """features [B, C, h, w] (the frame's raw stride-16 map), mask [B, 1, 16h, 16w]
        already scaled -> memory features [B, out_dim, h, w]."""
        x = self.pix_feat_proj(features) + self.mask_downsampler(mask)
        return self.out_proj(self.fuser(x))
