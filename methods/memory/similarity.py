"""Similarities between memory keys and query keys, a parameter of a memory bank.

Each takes memory keys [C, M] and query keys [C, N] and returns affinities [M, N]
(larger = more similar). Terms constant per query column are dropped where a softmax
over the memory axis cancels them.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

Similarity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def neg_sq_l2(memory: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """STCN: -|m - q|^2 / sqrt(C) up to the per-query |q|^2, i.e. (2 m.q - |m|^2) / sqrt(C)."""
    scale = math.sqrt(memory.shape[0])
    return (2 * (memory.transpose(0, 1) @ query) - memory.pow(2).sum(0).unsqueeze(1)) / scale


def scaled_dot(memory: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """STM / SwiftNet: m.q / sqrt(C)."""
    return (memory.transpose(0, 1) @ query) / math.sqrt(memory.shape[0])


SIMILARITIES: dict[str, Similarity] = {"l2": neg_sq_l2, "dot": scaled_dot}
"""By parameter value: ``similarity=l2`` or ``similarity=dot``."""
