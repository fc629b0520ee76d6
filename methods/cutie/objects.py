"""Cutie's object-level reading and writing, with the official state-dict names.

- ``ObjectSummarizer``: on a memorised frame, an object's mask value map becomes
  ``num_queries`` summaries: weighted sums of per-pixel features and their weights'
  sum ("area"), half of them weighted inside the object's soft mask, half outside. The
  object memory adds them up over the video (methods/memory/object_memory.py).
- ``ObjectTransformer``: queries initialised from the object memory read the pixel
  features with masked cross-attention (the first half of the queries sees only the
  object's foreground, the second half only the rest, the foreground estimated before
  each block), attend to each other, and are read back by the pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods.cutie.blocks import CAResBlock, PositionalEncoding
from methods.stm_parts import aggregate_logits


class CrossAttention(nn.Module):
    """x' = n + MHA(q = n + x_pe, k = mem + mem_pe, v = mem), n = LayerNorm(x) (or x
    itself without ``norm``): the residual is the normalised input."""

    def __init__(self, dim: int, heads: int, norm: bool = True):
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim) if norm else None

    def forward(self, x, x_pe, mem, mem_pe, mask=None) -> torch.Tensor:
        if self.norm is not None:
            x = self.norm(x)
        return x + self.cross_attn(x + x_pe, mem + mem_pe, mem, attn_mask=mask, need_weights=False)[0]


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pe: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return x + self.self_attn(x + pe, x + pe, x, need_weights=False)[0]


class FFN(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.linear1 = nn.Linear(dim, hidden)
        self.linear2 = nn.Linear(hidden, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.linear2(F.relu(self.linear1(self.norm(x))))


class PixelFFN(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.conv = CAResBlock(dim)


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, ff_dim: int):
        super().__init__()
        self.read_from_pixel = CrossAttention(dim, heads)
        self.self_attn = SelfAttention(dim, heads)
        self.ffn = FFN(dim, ff_dim)
        self.read_from_query = CrossAttention(dim, heads, norm=False)
        self.pixel_ffn = PixelFFN(dim)

    def forward(self, query, query_pe, pixel, pixel_pe, mask):
        """query, query_pe [K, Q, C]; pixel [K, C, h, w]; pixel_pe [K, N, C]; mask
        [K * heads, Q, N] (True: blocked) -> (query, pixel)."""
        k, c, h, w = pixel.shape
        # contiguous: a strided [K, N, C] sends the attention's input projections to a
        # batched matmul with the weight repeated N times (10x slower)
        flat = pixel.flatten(2).transpose(1, 2).contiguous()
        query = self.read_from_pixel(query, query_pe, flat, pixel_pe, mask)
        query = self.ffn(self.self_attn(query, query_pe))
        flat = self.read_from_query(flat, pixel_pe, query, query_pe)
        return query, self.pixel_ffn.conv(flat.transpose(1, 2).reshape(k, c, h, w))


class ObjectTransformer(nn.Module):
    def __init__(self, dim: int = 256, queries: int = 16, blocks: int = 3, heads: int = 8, ff_dim: int = 2048):
        super().__init__()
        self.heads = heads
        self.query_init = nn.Embedding(queries, dim)
        self.query_emb = nn.Embedding(queries, dim)
        self.summary_to_query_init = nn.Linear(dim, dim)
        self.summary_to_query_emb = nn.Linear(dim, dim)
        self.pixel_init_proj = nn.Conv2d(dim, dim, 1)
        self.pixel_emb_proj = nn.Conv2d(dim, dim, 1)
        self.spatial_pe = PositionalEncoding(dim)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, ff_dim) for _ in range(blocks))
        # index 0 of each is a ReLU, so that the convs keep the official names mask_pred.i.1
        self.mask_pred = nn.ModuleList(nn.Sequential(nn.ReLU(), nn.Conv2d(dim, 1, 1)) for _ in range(blocks + 1))

    def forward(self, pixel: torch.Tensor, summaries: torch.Tensor) -> torch.Tensor:
        """pixel [K, C, h, w] (the fused pixel readout), summaries [K, Q, C + 1] (the
        object memory: sums and area) -> the memory readout [K, C, h, w]."""
        values = summaries[..., :-1] / (summaries[..., -1:] + 1e-4)
        query = self.query_init.weight + self.summary_to_query_init(values)
        query_pe = self.query_emb.weight + self.summary_to_query_emb(values)
        h, w = pixel.shape[-2:]
        pixel_pe = self.spatial_pe(h, w) + self.pixel_emb_proj(pixel).flatten(2).transpose(1, 2).contiguous()
        pixel = self.pixel_init_proj(pixel)
        for index, block in enumerate(self.blocks):
            query, pixel = block(query, query_pe, pixel, pixel_pe, self._mask(index, pixel, query.shape[1]))
        return pixel

    def _mask(self, index: int, pixel: torch.Tensor, queries: int) -> torch.Tensor:
        """[K * heads, Q, N], True where blocked: pixel n is foreground for object k where
        k's aggregated logit is the largest (ties included); queries of the first half
        see only foreground pixels, the second half only the others, and a query that
        would see nothing sees everything."""
        logits = self.mask_pred[index](pixel)[:, 0].float()
        scores = aggregate_logits(torch.sigmoid(logits), dim=0)  # [K + 1, h, w]
        foreground = (scores[1:] >= scores.amax(dim=0, keepdim=True)).flatten(1)  # [K, N]
        half = queries // 2
        blocked = torch.cat([(~foreground)[:, None].expand(-1, half, -1), foreground[:, None].expand(-1, queries - half, -1)], dim=1)
        blocked = blocked & ~blocked.all(dim=-1, keepdim=True)
        k, q, n = blocked.shape
        return blocked[:, None].expand(k, self.heads, q, n).reshape(k * self.heads, q, n)


class ObjectSummarizer(nn.Module):
    def __init__(self, dim: int = 256, value_dim: int = 256, summaries: int = 16):
        super().__init__()
        self.summaries = summaries
        self.pos_enc = PositionalEncoding(dim)
        self.input_proj = nn.Linear(value_dim, dim)
        self.feature_pred = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.weights_pred = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, summaries))

    def forward(self, masks: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Soft masks [K, H, W] and mask values [K, Cv, h, w] -> summaries [K, Q, C + 1]
        (weighted feature sums, then the weights' sum)."""
        h, w = values.shape[-2:]
        on_grid = F.adaptive_avg_pool2d(masks[None].float(), (h, w))[0].flatten(1)[..., None]  # [K, N, 1]
        half = self.summaries // 2
        allowed = torch.cat([on_grid.expand(-1, -1, half), (1 - on_grid).expand(-1, -1, self.summaries - half)], dim=-1)
        z = (self.input_proj(values.flatten(2).transpose(1, 2)) + self.pos_enc(h, w)).float()
        weights = torch.sigmoid(self.weights_pred(z)) * allowed  # [K, N, Q]
        sums = weights.transpose(1, 2) @ self.feature_pred(z)  # [K, Q, C]
        return torch.cat([sums, weights.sum(dim=1)[..., None]], dim=-1)
