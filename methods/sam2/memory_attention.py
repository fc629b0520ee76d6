"""SAM 2's memory attention: four layers in which the current frame's stride-16 tokens
attend to themselves, then to the memory (spatial memory tokens of the selected frames,
then object-pointer tokens), with 2-D rotary position encoding (RoPE) on the queries and
on the spatial memory keys, never on the pointer tokens."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods.fast_inference import attention
from methods.sam2.layers import Attention


def axial_rotation(dim: int, side: int, theta: float = 10000.0, device: torch.device | str = "cpu") -> torch.Tensor:
    """The axial RoPE turns [side², dim/2] (complex, unit) of a side x side grid (raster
    order): channel pair i < dim/4 turns by x·f_i, pair dim/4 + j by y·f_j."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 4, device=device)[: dim // 4].float() / dim))
    t = torch.arange(side * side, dtype=torch.float32, device=device)
    x, y = t % side, torch.div(t, side, rounding_mode="floor")
    angles = torch.cat([torch.outer(x, freqs), torch.outer(y, freqs)], dim=-1)
    return torch.polar(torch.ones_like(angles), angles)


def rotate(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Turn channel pairs (2i, 2i+1) of x [..., N, C] by ``turns`` [n, C/2], repeated
    along N when N is a multiple of n (several memory frames), as complex products (as
    the official code turns them). A float32 x (rows contiguous) is turned in place, so
    the memory's keys need no second copy and no concatenation with the pointer tokens;
    another dtype gives a turned copy."""
    n = turns.shape[0]
    shape = x.shape
    pairs = x.float()
    torch.view_as_complex(pairs.view(*shape[:-2], shape[-2] // n, n, shape[-1] // 2, 2)).mul_(turns)
    return pairs.to(x.dtype)


class RoPEAttention(Attention):
    """One-head attention whose queries and the first ``rope_keys`` keys are rotated.

    With one head and values narrower than the projection (the 64-channel memory), the
    weighted sum runs over the raw values and ``v_proj`` after it: softmax weights sum
    to 1, so A (M W^T + b) = (A M) W^T + b, with a quarter of the multiplications of
    the largest product (the official code projects first); 20 % faster a layer."""

    def forward(self, q, k, v, rotation: torch.Tensor, rope_keys: int | None = None):
        q, k = self.split(self.q_proj(q)), self.split(self.k_proj(k))
        q = rotate(q, rotation)
        rope_keys = k.shape[-2] if rope_keys is None else rope_keys
        if rope_keys:
            spatial = k[..., :rope_keys, :]
            turned = rotate(spatial, rotation)
            if turned is not spatial:  # not in place (another dtype)
                k = torch.cat([turned, k[..., rope_keys:, :]], dim=-2)
        if self.heads == 1 and v.shape[-1] < self.v_proj.out_features:
            read = attention(q, k, v[:, None].to(q.dtype))
            return self.out_proj(self.v_proj(read[:, 0]))
        return self.combine(attention(q, k, self.split(self.v_proj(v))))


class MemoryAttentionLayer(nn.Module):
    def __init__(self, dim: int = 256, memory_dim: int = 64, feedforward: int = 2048):
        super().__init__()
        self.self_attn = RoPEAttention(dim, 1)
        self.cross_attn_image = RoPEAttention(dim, 1, kv_dim=memory_dim)
        self.linear1 = nn.Linear(dim, feedforward)
        self.linear2 = nn.Linear(feedforward, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x, memory, memory_pos, rotation, spatial_tokens: int):
        y = self.norm1(x)
        x = x + self.self_attn(y, y, y, rotation)
        x = x.expand(memory.shape[0], -1, -1)  # the first layer gets one frame for every object
        x = x + self.cross_attn_image(self.norm2(x), memory + memory_pos, memory, rotation, spatial_tokens)
        return x + self.linear2(F.relu(self.linear1(self.norm3(x))))


class MemoryAttention(nn.Module):
    def __init__(self, dim: int = 256, memory_dim: int = 64, layers: int = 4):
        super().__init__()
        self.layers = nn.ModuleList(MemoryAttentionLayer(dim, memory_dim) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, current, current_pos, memory, memory_pos, spatial_tokens: int, side: int) -> torch.Tensor:
        """current, current_pos [1, N, C] (one frame's tokens, N = side², shared by the B
        objects: the first self-attention runs once), memory, memory_pos [B, M, Cm] whose
        first ``spatial_tokens`` tokens are whole side x side frames -> [B, N, C]."""
        rotation = axial_rotation(current.shape[-1], side, device=current.device)
        x = current + 0.1 * current_pos
        for layer in self.layers:
            x = layer(x, memory, memory_pos, rotation, spatial_tokens)
        return self.norm(x)
