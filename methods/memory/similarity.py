"""Attention over a memory: how a query position weighs the stored entries.

The similarity is a parameter of a memory policy, not of a network, so a comparison
can hold it fixed while the policy changes (or the reverse):

- ``"dot"``: k.q / sqrt(C), as SwiftNet (and STM) match;
- ``"l2"``: -||k - q||^2 / sqrt(C), as STCN matches. The query's own squared norm is
  the same for every memory entry, so it cancels in the softmax and is left out:
  (2 k.q - ||k||^2) / sqrt(C).

XMem's anisotropic L2 adds two optional terms to ``"l2"``: a shrinkage s_i >= 1 per
memory entry and a selection e_j in (0, 1)^C per query position,
-s_i * sum_c e_jc (k_ic - q_jc)^2 / sqrt(C); here the query's term no longer cancels
(s_i scales it), so it is kept. Without a selection it is s_i times ``"l2"``.

``top_k`` keeps, per query position, only the k largest similarities before the
softmax (STCN's inference); None keeps them all. Softmaxes subtract the maximum.
A read can also add up how much weight each memory entry received (XMem's usage).
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


def anisotropic_l2(
    keys: torch.Tensor, query: torch.Tensor, shrinkage: torch.Tensor | None, selection: torch.Tensor | None
) -> torch.Tensor:
    """Memory keys [C, M] with shrinkage [M], query keys [C, N] with selection [C, N] ->
    [N, M]: -s_i * sum_c e_jc (k_ic - q_jc)^2 / sqrt(C), as one product of [q e, e] with
    [2 k, -k^2]; without a selection s_i (2 k.q - |k|^2) / sqrt(C) (as XMem)."""
    if selection is None:
        affinity = neg_sq_l2(keys, query)
    else:
        scale = 1 / math.sqrt(keys.shape[0])
        weighted = torch.cat([query * selection, selection]).transpose(0, 1)  # [N, 2C]
        affinity = weighted @ torch.cat([2 * keys, -keys.pow(2)])
        affinity = (affinity - (selection * query.pow(2)).sum(0)[:, None]) * scale
    return affinity if shrinkage is None else affinity * shrinkage


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
    shrinkage: torch.Tensor | None = None,
    selection: torch.Tensor | None = None,
    usage: torch.Tensor | None = None,
) -> torch.Tensor:
    """Values [..., M, Cv] (position-major) read through keys [C, M] for query [C, N] ->
    [..., Cv, N] (float32).

    The affinity is query-major ([N, M]: a query's similarities are contiguous, so the
    softmax and top-k run along rows) and built one block of queries at a time. With
    ``top_k`` only the k selected value rows per query position are gathered and
    weighed; no dense weight matrix is built. ``shrinkage`` [M] and ``selection`` [C, N]
    make ``"l2"`` XMem's anisotropic L2. ``usage`` (float32 [M]), when given, gets each
    entry's weight summed over the query positions added to it.
    """
    terms = shrinkage is not None or selection is not None
    if terms and similarity != "l2":
        raise ValueError(f"shrinkage and selection belong to the l2 similarity, not {similarity!r}")
    values = values.float()
    count, size = query.shape[-1], keys.shape[-1]
    out = values.new_empty((*values.shape[:-2], values.shape[-1], count))
    step = max(1, AFFINITY_BLOCK // max(size, 1))
    for start in range(0, count, step):
        block = slice(start, start + step)
        if terms:
            affinity = anisotropic_l2(keys, query[:, block], shrinkage, None if selection is None else selection[:, block])
        else:
            affinity = SIMILARITIES[similarity](keys, query[:, block])
        affinity = affinity.float()  # [n, M]
        if top_k is None or top_k >= size:
            weights = torch.softmax(affinity, dim=1)
            read = weights @ values  # [..., n, Cv]
            if usage is not None:
                usage += weights.sum(0)
        else:
            best, index = affinity.topk(top_k, dim=1)  # [n, k]
            rows = values[..., index, :]  # [..., n, k, Cv]
            weights = torch.softmax(best, dim=1)
            read = (weights.unsqueeze(-2) @ rows).squeeze(-2)  # [..., n, Cv]
            if usage is not None:
                usage.index_add_(0, index.flatten(), weights.flatten())
        out[..., block] = read.transpose(-1, -2)
    return out
