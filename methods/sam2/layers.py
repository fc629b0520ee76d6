"""Layers SAM 2's parts share: its MLP, the channel LayerNorm of its convolutional
maps and its attention with separate q/k/v projections (optionally narrower inside)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Mlp(nn.Module):
    """Linear layers with an activation between them (none after the last), named
    ``layers.i`` as SAM 2's MLP."""

    def __init__(self, dims: list[int], activation: type[nn.Module] = nn.ReLU, sigmoid: bool = False):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.act = activation()
        self.sigmoid = sigmoid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return torch.sigmoid(x) if self.sigmoid else x


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of [B, C, H, W] at each pixel."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class Attention(nn.Module):
    """Multi-head attention on [B, N, C] sequences; ``inner`` channels inside."""

    def __init__(self, dim: int, heads: int, inner: int | None = None, kv_dim: int | None = None):
        super().__init__()
        inner = inner or dim
        kv_dim = kv_dim or dim
        self.heads = heads
        self.q_proj = nn.Linear(dim, inner)
        self.k_proj = nn.Linear(kv_dim, inner)
        self.v_proj = nn.Linear(kv_dim, inner)
        self.out_proj = nn.Linear(inner, dim)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)

    def combine(self, x: torch.Tensor) -> torch.Tensor:
        b, h, n, c = x.shape
        return self.out_proj(x.transpose(1, 2).reshape(b, n, h * c))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k, v = self.split(self.q_proj(q)), self.split(self.k_proj(k)), self.split(self.v_proj(v))
        return self.combine(F.scaled_dot_product_attention(q, k, v))
