"""Histograms of cosine similarities between feature vectors: exact, in bounded memory.

What a count means:
- cosines are taken between rows scaled to unit length (a zero row stays zero, so its
  cosine with anything is 0) and clipped to [-1, 1];
- bins are ``np.histogram``'s for ``Bins.count`` equal bins over [-1, 1]: bin i holds
  edges[i] <= c < edges[i + 1], edges = np.linspace(-1, 1, count + 1), and the last
  bin also holds 1;
- ``pair_counts``: every unordered pair i < j of one set's rows: N(N-1)/2 counts;
- ``max_counts``: for every row of a query set, its highest cosine to any row of a key
  set: one count per query row.

How: similarities are computed in float32, ``chunk`` of them at a time, so memory is
O(chunk + N C) whatever N is. A float32 cosine of C-channel unit rows lies within
(C + 3) 2^-24 of the float64 one; the few values that close to a bin edge are
recomputed in float64. The counts are therefore exactly those of ``np.histogram`` over
the float64 cosines of the float32 features, however the work is blocked.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from vosbench.errors import VosbenchError

CHUNK = 1 << 18
"""Similarities held at once (float32 values) by default: 1 MiB plus a few temporaries."""

Exact = Callable[[tuple[np.ndarray, ...]], np.ndarray]
"""Float64 cosines at given positions (an ``np.nonzero`` tuple) of an array of float32 ones."""


@dataclass(frozen=True)
class Unit:
    """The rows of a feature matrix [N, C] at unit length: float64 and its float32 rounding."""

    exact: np.ndarray  # float64 [N, C]
    fast: np.ndarray  # float32 [N, C]

    @classmethod
    def of(cls, features: np.ndarray) -> Unit:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must be [N, C], got shape {x.shape}")
        if not np.isfinite(x).all():
            raise VosbenchError("features hold NaN or infinite values; the feature extractor diverged")
        norms = np.sqrt(np.einsum("nc,nc->n", x, x))
        exact = x / np.where(norms > 0, norms, 1.0)[:, None]
        return cls(exact, exact.astype(np.float32))

    def __len__(self) -> int:
        return self.exact.shape[0]

    @property
    def channels(self) -> int:
        return self.exact.shape[1]


@dataclass(frozen=True)
class Bins:
    """``count`` equal bins over [-1, 1], as ``np.histogram(values, count, (-1, 1))``."""

    count: int = 100

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or not 1 <= self.count <= 10_000:
            raise VosbenchError(f"bins must be an integer in 1..10000, got {self.count!r}")

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(-1.0, 1.0, self.count + 1)

    def edge_index(self, threshold: float) -> int:
        """The index of the edge at ``threshold``; a threshold between edges raises."""
        position = (threshold + 1.0) * self.count / 2
        index = round(position)
        if abs(position - index) > 1e-9:
            raise VosbenchError(
                f"{self.count} bins put no edge at {threshold}; give a multiple of 20 so that every headline threshold is one"
            )
        return index

    def exact_index(self, values: np.ndarray) -> np.ndarray:
        """Bin of each float64 cosine, by ``np.histogram``'s rule."""
        index = np.searchsorted(self.edges, np.clip(values, -1.0, 1.0), side="right") - 1
        return np.minimum(index, self.count - 1)

    def counts(self, approx: np.ndarray, channels: int, exact: Exact) -> np.ndarray:
        """Counts per bin (int64 [count]) of cosines given as float32 ``approx`` of
        ``channels``-channel unit rows (any shape; overwritten); ``exact`` gives the
        float64 cosines of the values too close to an edge to bin from float32."""
        half = np.float32(self.count / 2)
        # (C + 3) 2^-24 from the cosine, 2 ulp of the scaled value; doubled to be safe
        margin = np.float32((self.count / 2 * (channels + 3) + 2 * self.count) * 2.0**-23)
        scaled = approx.reshape(-1)
        scaled *= half
        scaled += half
        # truncation is floor here (scaled > -1); int16 keeps the passes short
        low = np.subtract(scaled, margin).astype(np.int16)
        high = np.add(scaled, margin, out=scaled).astype(np.int16)
        near = np.flatnonzero(low != high)
        if near.size:
            # at the top the last bin is closed: nothing to decide there
            top = high[near] >= self.count
            high[near[top]] = self.count - 1
            near = near[~top]
            if near.size:
                high[near] = self.exact_index(exact(np.unravel_index(near, approx.shape)))
        return np.bincount(high, minlength=self.count)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b.T`` of unit rows [Na, C] and [Nb, C] (float32 or float64) -> [Na, Nb],
    through torch, whose thread count the caller sets (``torch.set_num_threads``);
    numpy's BLAS picks its own and oversubscribes a busy machine."""
    return (torch.from_numpy(a) @ torch.from_numpy(b).T).numpy()


def rows_per_block(columns: int, chunk: int) -> int:
    return max(1, chunk // max(columns, 1))


@functools.lru_cache(maxsize=4)
def _lower_triangle(size: int) -> np.ndarray:
    return np.tri(size, dtype=bool)


def pair_counts(units: Unit, bins: Bins, chunk: int = CHUNK) -> np.ndarray:
    """Counts per bin of the cosines of all N(N-1)/2 unordered pairs of rows."""
    n = len(units)
    counts = np.zeros(bins.count, np.int64)
    step = rows_per_block(n, chunk)
    for start in range(0, n - 1, step):
        stop = min(start + step, n - 1)
        # rows start..stop-1 against columns start..n-1; pairs need column > row
        block = cosines(units.fast[start:stop], units.fast[start:])
        square = block[:, : stop - start]
        below = _lower_triangle(stop - start)  # column <= row: no pair i < j
        square[below] = -1.0  # bin 0 for certain (no edge near it); taken off again below

        def exact(near: tuple[np.ndarray, ...], start: int = start) -> np.ndarray:
            i, j = near[0] + start, near[1] + start
            return np.einsum("kc,kc->k", units.exact[i], units.exact[j])

        counts += bins.counts(block, units.channels, exact)
        counts[0] -= (stop - start) * (stop - start + 1) // 2
    return counts


def max_similarity(query: Unit, keys: Unit, chunk: int = CHUNK) -> np.ndarray:
    """Each query row's highest float32 cosine to any key row, float32 [Nq]."""
    if len(keys) == 0:
        raise ValueError("no key rows to match against")
    best = np.empty(len(query), np.float32)
    step = rows_per_block(len(keys), chunk)
    for start in range(0, len(query), step):
        best[start : start + step] = cosines(query.fast[start : start + step], keys.fast).max(axis=1)
    return best


def exact_max(query: Unit, keys: Unit, rows: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """The float64 highest cosine of query rows ``rows`` to any key row [len(rows)]."""
    best = np.empty(len(rows), np.float64)
    step = rows_per_block(len(keys), chunk)
    for start in range(0, len(rows), step):
        best[start : start + step] = cosines(query.exact[rows[start : start + step]], keys.exact).max(axis=1)
    return best


def max_counts(query: Unit, keys: Unit, bins: Bins, chunk: int = CHUNK) -> np.ndarray:
    """Counts per bin of each query row's highest cosine to the key rows (Nq counts)."""
    approx = max_similarity(query, keys, chunk)
    return bins.counts(approx, query.channels, lambda near: exact_max(query, keys, near[0], chunk))
