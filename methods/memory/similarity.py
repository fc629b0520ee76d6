"""Attention over a memory: how a query position weighs the stored entries.

The similarity is a parameter of a memory policy, not of a network, so a comparison
can hold it fixed while the policy changes (or the reverse):

- ``"dot"``: k.q / sqrt(C), as SwiftNet (and STM) match;
- ``"l2"``: -||k - q||^2 / sqrt(C), as STCN matches. The query's own squared norm is
  the same for every memory entry, so it cancels in the softmax and is left out:
  (2 k.q - ||k||^2) / sqrt(C).

``top_k`` keeps, per query position, only the k largest similarities before the
softmax (STCN's inference); None keeps them all. Softmaxes subtract the maximum.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

Similarity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def scaled_dot(keys: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Memory keys [C, M], query keys [C, N] -> [N, M]: k.q / sqrt(C) (the scale applied to
    the small query, not to the affinity)."""
    return (query.transpose(0, 1) / math.sqrt(keys.shape[0])) @ keys


def neg_sq_l2(keys: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Memory keys [C, M], query keys [C, N] -> [N, M]: (2 k.q - |k|^2) / sqrt(C), one
    fused multiply-add over the affinity."""
    scale = 1 / math.sqrt(keys.shape[0])
    return torch.addmm(keys.pow(2).sum(0), query.transpose(0, 1), keys, beta=-scale, alpha=2 * scale)


SIMILARITIES: dict[str, Similarity] = {"dot": scaled_dot, "l2": neg_sq_l2}
"""By parameter value: ``similarity=dot`` or ``similarity=l2``."""

AFFINITY_BLOCK = 1 << 24
"""Affinity entries computed at once (64 MiB in float32): queries are read in blocks, so a
long video's memory never needs a dense [N, M] affinity."""


def read_values(
    keys: torch.Tensor,
    values: torch.Tensor,
    query: torch.Tensor,
    similarity: str = "dot",
    top_k: int | None = None,
) -> torch.Tensor:
    """Values [..., M, Cv] (position-major) read through keys [C, M] for query [C, N] ->
    [..., Cv, N] (float32).

    The affinity is query-major ([N, M]: a query's similarities are contiguous, so the
    softmax and top-k run along rows) and built one block of queries at a time. With
    ``top_k`` only the k selected value rows per query position are gathered and
    weighed; no dense weight matrix is built.
    """
    values = values.float()
    count, size = query.shape[-1], keys.shape[-1]
    out = values.new_empty((*values.shape[:-2], values.shape[-1], count))
    step = max(1, AFFINITY_BLOCK // max(size, 1))
    for start in range(0, count, step):
        block = slice(start, start + step)
        affinity = SIMILARITIES[similarity](keys, query[:, block]).float()  # [n, M]
        if top_k is None or top_k >= size:
            read = torch.softmax(affinity, dim=1) @ values  # [..., n, Cv]
        else:
            best, index = affinity.topk(top_k, dim=1)  # [n, k]
            rows = values[..., index, :]  # [..., n, k, Cv]
            read = (torch.softmax(best, dim=1).unsqueeze(-2) @ rows).squeeze(-2)  # [..., n, Cv]
        out[..., block] = read.transpose(-1, -2)
    return out
