"""Redundancy inside an object memory (Cutie's): how many of each object's summaries
have a near duplicate among that object's other summaries.

A method with an object memory gives, for a frame and its ground-truth masks, the
summaries that frame adds ([K, Q, C + 1]: weighted feature sums, then the weights' sum).
They are accumulated as the method accumulates them (``methods/memory/object_memory.py``,
a streaming sum never evicted) on the bank's schedule (frame 0 and every ``every``-th
frame, never the last), and after each write every object's Q summaries, read as the
method reads them (sums over area), are counted as the bank's features are: those whose
nearest other summary of the same object has cosine at or above ``threshold``, decided
exactly as a histogram bin. A summary nothing was added to yet (zero vector) counts as
neither stored nor redundant.
"""

from __future__ import annotations

import numpy as np
import torch

from methods.memory.object_memory import ObjectMemory
from vosbench.redundancy.bank import BankRedundancy, BankState, count_redundant, nearest_other
from vosbench.redundancy.histogram import Unit

AREA_EPS = 1e-4  # Cutie's reader divides each sum by its area plus this


class ObjectSummaryRedundancy(BankRedundancy):
    """The bank's schedule and threshold; ``state`` counts summaries over all objects."""

    def start(self, num_objects: int) -> None:
        super().start()
        self.memory = ObjectMemory()
        self.memory.reset(num_objects)

    def step(self, index: int, summaries: np.ndarray, is_last: bool) -> bool:
        """Add frame ``index``'s summaries [K, Q, C + 1] if it is due; returns whether it
        was (``state`` is then new)."""
        if not self.wants(index, is_last):
            return False
        self.memory.write(torch.from_numpy(np.ascontiguousarray(summaries, dtype=np.float32)))
        sums = self.memory.read().double().numpy()
        values = sums[..., :-1] / (sums[..., -1:] + AREA_EPS)
        stored = redundant = 0
        for vectors in values:  # one object's summaries
            vectors = vectors[np.linalg.norm(vectors, axis=1) > 0]
            stored += len(vectors)
            if len(vectors) > 1:
                units = Unit.of(vectors)
                redundant += count_redundant(units, nearest_other(units, self.chunk), self.bins, self.edge, self.chunk)
        self.state = BankState(stored, redundant)
        return True
