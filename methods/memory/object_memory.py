"""Cutie's object memory: per object, ``Q`` summaries (a weighted feature sum and its
weights' sum, "area"), added up over every memorised frame of the video (a streaming
sum: never evicted, never growing). Its reader divides sums by areas. Reported as the
``object`` tier: ``Q`` feature vectors per object.
"""

from __future__ import annotations

import torch


class ObjectMemory:
    def __init__(self):
        self.reset(0)

    def reset(self, num_objects: int) -> None:
        self._num_objects = num_objects
        self._sums: torch.Tensor | None = None  # [K, Q, C + 1]: sums, then the area
        self.count = 0  # frames accumulated

    def add_objects(self, num_new: int) -> None:
        """New objects start with zero sums (read as zero values) until a frame showing
        them is written."""
        if num_new > 0 and self._sums is not None:
            self._sums = torch.cat([self._sums, self._sums.new_zeros((num_new, *self._sums.shape[1:]))])
        self._num_objects += max(num_new, 0)

    def write(self, summaries: torch.Tensor) -> None:
        """Add a frame's summaries [K, Q, C + 1]."""
        if summaries.shape[0] != self._num_objects:
            raise ValueError(f"summaries for {summaries.shape[0]} objects, the memory holds {self._num_objects}")
        summaries = summaries.float()
        self._sums = summaries if self._sums is None else self._sums + summaries
        self.count += 1

    def read(self) -> torch.Tensor:
        if self._sums is None:
            raise ValueError("read from an empty object memory")
        return self._sums

    def tiers(self) -> dict[str, int]:
        return {"object": 0 if self._sums is None else self._sums.shape[1]}

    def nbytes(self) -> int:
        return 0 if self._sums is None else self._sums.numel() * self._sums.element_size()
