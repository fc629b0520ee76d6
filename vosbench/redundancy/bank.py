"""Redundancy inside STCN's periodic memory bank as it grows.

The bank stores the key features of frame 0 and of every ``every``-th frame after it,
never the last frame: STCN's schedule when every object is given at frame 0
(``methods/memory/periodic.py``). After each write it reports how many stored features
have a nearest *other* stored feature with cosine at or above ``threshold`` (0.9), and
their share of the bank. Nearest neighbours are updated as the bank grows (the new
frame against the bank, and within itself), so a write costs O(N M) for a bank of M
features, computed ``chunk`` similarities at a time; whether a feature clears the
threshold is decided exactly as the histograms decide a bin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vosbench.redundancy.histogram import CHUNK, Bins, Unit, cosines, rows_per_block

THRESHOLD = 0.9


@dataclass(frozen=True)
class BankState:
    stored: int  # features in the bank
    redundant: int  # of them, those whose nearest other stored feature clears the threshold

    @property
    def share(self) -> float:
        return self.redundant / self.stored if self.stored else 0.0


class BankRedundancy:
    def __init__(self, bins: Bins, every: int = 5, threshold: float = THRESHOLD, chunk: int = CHUNK):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.bins = bins
        self.edge = bins.edge_index(threshold)
        self.every = every
        self.chunk = chunk
        self.state = BankState(0, 0)
        self._bank: Unit | None = None
        self._best = np.empty(0, np.float32)  # float32 nearest-other cosine of each stored feature

    def start(self) -> None:
        self.state = BankState(0, 0)
        self._bank = None
        self._best = np.empty(0, np.float32)

    def wants(self, index: int, is_last: bool) -> bool:
        return index % self.every == 0 and not is_last

    def step(self, index: int, units: Unit, is_last: bool) -> bool:
        """Store frame ``index`` if it is due; returns whether it was (``state`` is then new)."""
        if not self.wants(index, is_last):
            return False
        new_best = np.full(len(units), -np.inf, np.float32)
        old = self._bank
        if old is not None:
            step = rows_per_block(len(old), self.chunk)
            for start in range(0, len(units), step):
                block = cosines(units.fast[start : start + step], old.fast)
                new_best[start : start + step] = block.max(axis=1)
                np.maximum(self._best, block.max(axis=0), out=self._best)
        np.maximum(new_best, nearest_other(units, self.chunk), out=new_best)
        if old is None:
            self._bank, self._best = units, new_best
        else:
            self._bank = Unit(np.concatenate([old.exact, units.exact]), np.concatenate([old.fast, units.fast]))
            self._best = np.concatenate([self._best, new_best])
        self.state = BankState(len(self._bank), self._redundant())
        return True

    def _redundant(self) -> int:
        return count_redundant(self._bank, self._best, self.bins, self.edge, self.chunk)


def nearest_other(units: Unit, chunk: int = CHUNK) -> np.ndarray:
    """float32 cosine of each row's nearest other row (-inf for a lone row)."""
    best = np.full(len(units), -np.inf, np.float32)
    step = rows_per_block(len(units), chunk)
    for start in range(0, len(units), step):
        block = cosines(units.fast[start : start + step], units.fast)
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = -np.inf  # a feature is not its own neighbour
        best[start : start + step] = block.max(axis=1)
    return best


def count_redundant(units: Unit, best: np.ndarray, bins: Bins, edge: int, chunk: int = CHUNK) -> int:
    """Rows whose nearest other row (float32 cosines ``best``) clears bin ``edge``, those
    too close to the edge decided in float64 as the histograms decide a bin."""
    has_other = np.flatnonzero(np.isfinite(best))  # a lone feature has no neighbour
    if has_other.size == 0:
        return 0

    def exact(near: tuple[np.ndarray]) -> np.ndarray:
        rows = has_other[near[0]]
        values = np.empty(len(rows), np.float64)
        step = rows_per_block(len(units), chunk)
        for start in range(0, len(rows), step):
            picked = rows[start : start + step]
            block = cosines(units.exact[picked], units.exact)
            block[np.arange(len(picked)), picked] = -np.inf
            values[start : start + step] = block.max(axis=1)
        return values

    counts = bins.counts(best[has_other].copy(), units.channels, exact)
    return int(counts[edge:].sum())
