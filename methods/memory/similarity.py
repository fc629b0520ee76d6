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
    """Memory keys [C, M], query keys [C, N] -> [M, N]: k.q / sqrt(C)."""
    return (keys.transpose(0, 1) @ query) / math.sqrt(keys.shape[0])


def neg_sq_l2(keys: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Memory keys [C, M], query keys [C, N] -> [M, N]: (2 k.q - |k|^2) / sqrt(C)."""
    return (2 * (keys.transpose(0, 1) @ query) - keys.pow(2).sum(0).unsqueeze(1)) / math.sqrt(keys.shape[0])


SIMILARITIES: dict[str, Similarity] = {"dot": scaled_dot, "l2": neg_sq_l2}
"""By parameter value: ``similarity=dot`` or ``similarity=l2``."""


def read_values(
    keys: torch.Tensor,
    values: torch.Tensor,
    query: torch.Tensor,
    similarity: str = "dot",
    top_k: int | None = None,
) -> torch.Tensor:
    """Values [..., Cv, M] read through keys [C, M] for query [C, N] -> [..., Cv, N] (float32).

    With ``top_k`` the k selected entries are gathered, so only k of the M values per
    query position are touched and no dense weight matrix is built.
    """
    affinity = SIMILARITIES[similarity](keys, query)  # [M, N]
    if top_k is None or top_k >= affinity.shape[0]:
        return values.float() @ torch.softmax(affinity.float(), dim=0)
    best, index = affinity.topk(top_k, dim=0)  # [k, N]
    weights = torch.softmax(best.float(), dim=0)
    return (values[..., index].float() * weights).sum(dim=-2)
