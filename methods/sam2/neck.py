"""SAM 2's FPN neck and the position encodings computed on the fly (none is stored).

The neck projects each trunk stage to 256 channels (``convs.0`` takes the coarsest)
and adds a nearest-upsampled top-down path only into the stride-16 level; the
stride-32 level is then dropped (``scalp``), leaving strides 4, 8 and 16. SAM 2 uses
the stride-4 and stride-8 maps only through the decoder's 1x1 convolutions
(``conv_s0``, ``conv_s1``), so each pair of 1x1 convolutions runs as one, composed
(9 GFLOP less a frame, the same sums in another order).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sine_position(channels: int, h: int, w: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """DETR's normalised 2-D sine encoding [channels, h, w]: y then x halves, each
    with sin/cos interleaved in channel pairs."""
    half = channels // 2
    eps, scale = 1e-6, 2 * math.pi
    y = torch.arange(1, h + 1, dtype=torch.float32, device=device)
    x = torch.arange(1, w + 1, dtype=torch.float32, device=device)
    y = y / (y[-1:] + eps) * scale
    x = x / (x[-1:] + eps) * scale
    dim_t = torch.arange(half, dtype=torch.float32, device=device)
    dim_t = 10000 ** (2 * (dim_t // 2) / half)

    def encode(v: torch.Tensor) -> torch.Tensor:  # [n] -> [n, half]
        v = v[:, None] / dim_t
        return torch.stack((v[:, 0::2].sin(), v[:, 1::2].cos()), dim=2).flatten(1)

    pos_y = encode(y)[:, None, :].expand(h, w, half)
    pos_x = encode(x)[None, :, :].expand(h, w, half)
    return torch.cat((pos_y, pos_x), dim=2).permute(2, 0, 1).contiguous()


def sine_1d(positions: torch.Tensor, channels: int) -> torch.Tensor:
    """[n] -> [n, channels]: all sines, then all cosines (the object pointers' temporal code)."""
    half = channels // 2
    dim_t = torch.arange(half, dtype=torch.float32, device=positions.device)
    dim_t = 10000 ** (2 * (dim_t // 2) / half)
    v = positions[:, None] / dim_t
    return torch.cat([v.sin(), v.cos()], dim=-1)


class Lateral(nn.Module):
    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.conv = nn.Conv2d(in_dim, out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class FpnNeck(nn.Module):
    def __init__(self, channels: list[int], dim: int = 256):
        super().__init__()
        # convs.0 projects the coarsest stage
        self.convs = nn.ModuleList(Lateral(c, dim) for c in reversed(channels))

    def forward(self, stages: list[torch.Tensor], heads: tuple[nn.Conv2d, nn.Conv2d]) -> list[torch.Tensor]:
        """The trunk's stages (finest first) -> the stride-4 and stride-8 maps through
        ``heads`` (1x1 convolutions of the 256 channels) and the 256-channel stride-16 map."""
        n = len(stages) - 1
        top = self.convs[0](stages[n])
        s16 = self.convs[1](stages[n - 1]) + F.interpolate(top.float(), scale_factor=2.0, mode="nearest")
        return [composed(self.convs[3].conv, heads[0], stages[0]), composed(self.convs[2].conv, heads[1], stages[1]), s16]


def composed(first: nn.Conv2d, then: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """then(first(x)) for two 1x1 convolutions, as one: W = W2 W1, b = W2 b1 + b2."""
    w1, w2 = first.weight[:, :, 0, 0], then.weight[:, :, 0, 0]
    weight = (w2 @ w1)[:, :, None, None]
    return F.conv2d(x, weight, w2 @ first.bias + then.bias)


class ImageEncoder(nn.Module):
    def __init__(self, trunk: nn.Module, neck: FpnNeck):
        super().__init__()
        self.trunk = trunk
        self.neck = neck

    def forward(self, image: torch.Tensor, heads: tuple[nn.Conv2d, nn.Conv2d]) -> list[torch.Tensor]:
        return self.neck(self.trunk(image), heads)
