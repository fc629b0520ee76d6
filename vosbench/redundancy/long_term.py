"""Redundancy inside XMem's long-term memory: how many of its prototypes have a near
duplicate among the others, beside the periodic bank's share (``bank.py``).

The key features drive the real policy (``methods/memory/consolidation.py``) on the
bank's schedule (frame 0 and every ``every``-th frame, never the last): each frame is
first read (top-k over the plain L2 similarity, no shrinkage or selection since bare
key features carry none), so that usage chooses the prototypes and the removals as it
does in a run, then written when due. After a frame that consolidated or removed, the
long-term entries are counted as the bank's are: the share whose nearest other
long-term entry has cosine at or above ``threshold``, decided exactly as a histogram
bin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from methods.memory.consolidation import WorkingLongTermMemory
from vosbench.redundancy.bank import THRESHOLD, count_redundant, nearest_other
from vosbench.redundancy.histogram import CHUNK, Bins, Unit


@dataclass(frozen=True)
class LongTermState:
    working: int  # entries in working memory
    stored: int  # long-term entries (prototypes)
    redundant: int  # of them, those whose nearest other long-term entry clears the threshold

    @property
    def share(self) -> float:
        return self.redundant / self.stored if self.stored else 0.0


class LongTermRedundancy:
    def __init__(self, bins: Bins, memory: WorkingLongTermMemory, threshold: float = THRESHOLD, chunk: int = CHUNK):
        self.bins = bins
        self.edge = bins.edge_index(threshold)
        self.memory = memory
        self.chunk = chunk
        self.state = LongTermState(0, 0, 0)

    def start(self) -> None:
        self.memory.reset(1)  # one object: only the keys matter here
        self.state = LongTermState(0, 0, 0)

    def step(self, index: int, features: np.ndarray, is_last: bool) -> bool:
        """Read, then write frame ``index`` (features [N, C]) if due; returns whether
        long-term memory changed (``state`` is then new)."""
        memory = self.memory
        keys = torch.from_numpy(np.ascontiguousarray(features.T, dtype=np.float32))  # C, N
        if memory.size():
            memory.read(keys)
        if not memory.wants(index, is_last):
            return False
        n = keys.shape[1]
        memory.write(index, keys[None], keys.new_zeros(1, 1, n), keys.new_zeros(1, n))
        changed = any(event.frame == index for event in memory.events())
        tiers = memory.tiers()
        redundant = self.state.redundant
        if changed:
            units = Unit.of(memory.long_term_keys().T.double().numpy())
            redundant = count_redundant(units, nearest_other(units, self.chunk), self.bins, self.edge, self.chunk)
        self.state = LongTermState(tiers["working"], tiers["long_term"], redundant)
        return changed
