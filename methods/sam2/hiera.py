"""SAM 2's image trunk: Hiera (Ryali et al., ICML 2023) as SAM 2 configures it.

Channels-last tokens [B, H, W, C] at stride 4 after a 7x7 patch embedding, plus a
position embedding (a small table resized bicubically, and a window-sized table tiled).
Blocks attend within windows (zero-padded to a multiple of the window; the padded zero
tokens take part as keys), a few globally; the first block of each later stage doubles
the width and the heads and max-pools its queries 2x2, halving the grid. The trunk
returns the last block's output of each stage (strides 4, 8, 16, 32).

The released sizes differ in width, depth, stage layout and where attention is global;
``HieraLayout`` holds one size's settings (the official configs' values, in ``LAYOUTS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from methods.sam2.layers import Mlp


@dataclass(frozen=True)
class HieraLayout:
    embed_dim: int
    num_heads: int
    stages: tuple[int, ...]
    global_blocks: tuple[int, ...]
    window_spec: tuple[int, ...]
    pos_embed_size: tuple[int, int]


# configs/sam2.1/sam2.1_hiera_{t,s,b+,l}.yaml (b+ takes Hiera's defaults)
LAYOUTS = {
    "tiny": HieraLayout(96, 1, (1, 2, 7, 2), (5, 7, 9), (8, 4, 14, 7), (7, 7)),
    "small": HieraLayout(96, 1, (1, 2, 11, 2), (7, 10, 13), (8, 4, 14, 7), (7, 7)),
    "base_plus": HieraLayout(112, 2, (2, 3, 16, 3), (12, 16, 20), (8, 4, 14, 7), (14, 14)),
    "large": HieraLayout(144, 2, (2, 6, 36, 4), (23, 33, 43), (8, 4, 16, 8), (7, 7)),
}


def pool2x2(x: torch.Tensor) -> torch.Tensor:
    """2x2 max-pool of channels-last [B, H, W, C]."""
    return F.max_pool2d(x.permute(0, 3, 1, 2), 2, 2).permute(0, 2, 3, 1)


def to_windows(x: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """[B, H, W, C] -> [B * windows, size, size, C], zero-padded bottom/right; the padded size."""
    b, h, w, c = x.shape
    ph, pw = (size - h % size) % size, (size - w % size) % size
    if ph or pw:
        x = F.pad(x, (0, 0, 0, pw, 0, ph))
    hp, wp = h + ph, w + pw
    x = x.view(b, hp // size, size, wp // size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size, size, c), (hp, wp)


def from_windows(x: torch.Tensor, size: int, padded: tuple[int, int], hw: tuple[int, int]) -> torch.Tensor:
    hp, wp = padded
    b = x.shape[0] // ((hp // size) * (wp // size))
    x = x.reshape(b, hp // size, wp // size, size, size, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    return x[:, : hw[0], : hw[1]]


class WindowAttention(nn.Module):
    def __init__(self, dim: int, dim_out: int, heads: int, pool_query: bool):
        super().__init__()
        self.heads = heads
        self.pool_query = pool_query
        self.qkv = nn.Linear(dim, 3 * dim_out)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, h * w, 3, self.heads, -1).unbind(2)
        if self.pool_query:
            q = pool2x2(q.reshape(b, h, w, -1))
            h, w = q.shape[1:3]
            q = q.reshape(b, h * w, self.heads, -1)
        x = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.proj(x.transpose(1, 2).reshape(b, h, w, -1))


class HieraBlock(nn.Module):
    def __init__(self, dim: int, dim_out: int, heads: int, window: int, pool_query: bool):
        super().__init__()
        self.window = window
        self.pool_query = pool_query
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = WindowAttention(dim, dim_out, heads, pool_query)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = Mlp([dim_out, 4 * dim_out, dim_out], nn.GELU)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if hasattr(self, "proj"):
            shortcut = pool2x2(self.proj(x)) if self.pool_query else self.proj(x)
        if self.window:
            x, padded = to_windows(x, self.window)
        x = self.attn(x)
        if self.window:
            window = self.window // 2 if self.pool_query else self.window
            h, w = shortcut.shape[1:3]
            padded = (h + (window - h % window) % window, w + (window - w % window) % window)
            x = from_windows(x, window, padded, (h, w))
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, 7, stride=4, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class Hiera(nn.Module):
    def __init__(self, layout: HieraLayout):
        super().__init__()
        self.layout = layout
        dim, heads = layout.embed_dim, layout.num_heads
        self.patch_embed = PatchEmbed(dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, dim, *layout.pos_embed_size))
        w0 = layout.window_spec[0]
        self.pos_embed_window = nn.Parameter(torch.zeros(1, dim, w0, w0))
        ends = [sum(layout.stages[: i + 1]) - 1 for i in range(len(layout.stages))]
        self.stage_ends = ends
        self.blocks = nn.ModuleList()
        stage = 0
        for i in range(sum(layout.stages)):
            # a stage's first block keeps the previous stage's window (as the official code)
            window = 0 if i in layout.global_blocks else layout.window_spec[stage]
            dim_out = dim
            if i - 1 in ends:
                dim_out, heads, stage = 2 * dim, 2 * heads, stage + 1
            self.blocks.append(HieraBlock(dim, dim_out, heads, window, pool_query=i - 1 in ends[:3]))
            dim = dim_out
        self.channels = [self.blocks[i].mlp.layers[-1].out_features for i in ends]
        self._position: tuple | None = None

    def position(self, h: int, w: int) -> torch.Tensor:
        """The position embedding of an h x w grid [1, h, w, C], kept while the size and the
        tables stay (every frame has the same size: its bicubic resize cost 80 ms a frame)."""
        window = self.pos_embed_window
        key = (h, w, self.pos_embed.device, self.pos_embed.dtype, self.pos_embed._version, window._version)
        if self._position is None or self._position[0] != key:
            pos = F.interpolate(self.pos_embed, size=(h, w), mode="bicubic")
            pos = pos + window.tile(1, 1, h // window.shape[2], w // window.shape[3])
            self._position = (key, pos.permute(0, 2, 3, 1))
        return self._position[1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Normalised image [B, 3, H, W] -> the stages' outputs [B, C_i, H / 4·2^i, W / 4·2^i]."""
        x = self.patch_embed(x)
        x = x + self.position(*x.shape[1:3])
        out = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                out.append(x.permute(0, 3, 1, 2))
        return out
