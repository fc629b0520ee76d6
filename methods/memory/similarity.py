"""Attention over a memory: how a query position weighs the stored entries.

The similarity is a parameter of a memory policy, not of a network, so a comparison
can hold it fixed while the policy changes (or the reverse):

- ``"dot"``: k·q / sqrt(C), as SwiftNet (and STM) match;
- ``"l2"``: -||k - q||² / sqrt(C), as STCN matches. The query's own squared norm is
  the same for every memory entry, so it cancels in the softmax and is left out.

``top_k`` keeps, per query position, only the k largest similarities before the
softmax (STCN's inference); None keeps them all.
"""

from __future__ import annotations

import math

import torch

SIMILARITIES = ("dot", "l2")


def affinity(keys: torch.Tensor, query: torch.Tensor, kind: str = "dot") -> torch.Tensor:
    """Similarity of memory keys [..., C, M] to query keys [..., C, N] -> [..., M, N]."""
    scale = 1.0 / math.sqrt(keys.shape[-2])
    dot = keys.transpose(-2, -1) @ query
    if kind == "dot":
        return dot * scale
    if kind == "l2":
        return (2 * dot - keys.pow(2).sum(-2).unsqueeze(-1)) * scale
    raise ValueError(f"unknown similarity {kind!r}; known: {', '.join(SIMILARITIES)}")


def attention(similarity: torch.Tensor, top_k: int | None = None) -> torch.Tensor:
    """Softmax over the memory axis (-2) of [..., M, N]; with ``top_k``, over the k best only."""
    if top_k is None or top_k >= similarity.shape[-2]:
        return torch.softmax(similarity.float(), dim=-2)
    best, index = similarity.float().topk(top_k, dim=-2)
    weights = torch.zeros_like(similarity, dtype=torch.float32)
    return weights.scatter_(-2, index, torch.softmax(best, dim=-2))


def read_values(
    keys: torch.Tensor, values: torch.Tensor, query: torch.Tensor, kind: str = "dot", top_k: int | None = None
) -> torch.Tensor:
    """Values [..., Cv, M] read for query [..., C, N] through keys [..., C, M] -> [..., Cv, N]."""
    weights = attention(affinity(keys, query, kind), top_k)
    return values @ weights.to(values.dtype)
