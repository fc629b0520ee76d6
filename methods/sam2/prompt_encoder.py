"""SAM's prompt encoder as SAM 2's video tracking uses it: a mask prompt (downscaled by
convolutions into a dense embedding) or none (the learned ``no_mask_embed``); without
clicks the sparse prompt is two "not a point" tokens. The click embeddings
(``point_embeddings``) are in every checkpoint but serve only interactive prompts."""

from __future__ import annotations

import math

import torch
from torch import nn

from methods.sam2.layers import LayerNorm2d


class RandomFourierPosition(nn.Module):
    def __init__(self, channels: int = 256):
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.zeros(2, channels // 2))

    def forward(self, size: int) -> torch.Tensor:
        """Encoding [C, size, size] of the cell centres of a size x size grid."""
        centres = (torch.arange(size, dtype=torch.float32, device=self.positional_encoding_gaussian_matrix.device) + 0.5) / size
        coords = torch.stack(torch.broadcast_tensors(centres[None, :], centres[:, None]), dim=-1)  # (x, y)
        coords = 2 * math.pi * ((2 * coords - 1) @ self.positional_encoding_gaussian_matrix)
        return torch.cat([coords.sin(), coords.cos()], dim=-1).permute(2, 0, 1)


class PromptEncoder(nn.Module):
    def __init__(self, dim: int = 256, grid: int = 64, mask_channels: int = 16):
        super().__init__()
        self.grid = grid
        self.pe_layer = RandomFourierPosition(dim)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, dim)
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_channels // 4, 2, stride=2),
            LayerNorm2d(mask_channels // 4),
            nn.GELU(),
            nn.Conv2d(mask_channels // 4, mask_channels, 2, stride=2),
            LayerNorm2d(mask_channels),
            nn.GELU(),
            nn.Conv2d(mask_channels, dim, 1),
        )
        self.no_mask_embed = nn.Embedding(1, dim)

    def dense_position(self) -> torch.Tensor:
        return self.pe_layer(self.grid)[None]

    def forward(self, batch: int, masks: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(sparse [B, 2, C], dense [B, C, grid, grid]) for no clicks and an optional
        mask prompt [B, 1, 4·grid, 4·grid]."""
        sparse = self.not_a_point_embed.weight[None].expand(batch, 2, -1)
        if masks is not None:
            return sparse, self.mask_downscaling(masks)
        dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, self.grid, self.grid)
        return sparse, dense
