"""Per-object statistics of per-frame J or F, as davis2017-evaluation's ``db_statistics``.

Mean: the plain mean. Recall: the share of frames scoring strictly above 0.5. Decay:
the frames are split into four overlapping bins at the reference's rounded quartiles,
and decay is the mean of the first bin minus the mean of the last.

One documented difference: the reference casts the bin indices to uint8, so for more
than 256 scored frames they wrap (mod 256) and its decay compares the wrong frames. Up
to 256 frames the indices here are identical; beyond, they are the true indices.
"""

from __future__ import annotations

import numpy as np

N_BINS = 4


def mean(values: np.ndarray) -> float:
    return float(np.mean(values))


def recall(values: np.ndarray, threshold: float = 0.5) -> float:
    """Share of frames with a value strictly above ``threshold``."""
    return float(np.mean(values > threshold))


def decay_bins(n: int) -> list[slice]:
    """The four bins of ``n`` scored frames: bin i runs from index ids[i] to ids[i+1]
    inclusive, ids = round(linspace(1, n, 5) + 1e-10) - 1 (the epsilon makes halves
    round up despite numpy's round-half-to-even)."""
    ids = (np.round(np.linspace(1, n, N_BINS + 1) + 1e-10) - 1).astype(np.int64)
    return [slice(int(ids[i]), int(ids[i + 1]) + 1) for i in range(N_BINS)]


def decay(values: np.ndarray) -> float:
    """Mean of the first quarter of the frames minus the mean of the last quarter."""
    values = np.asarray(values, dtype=np.float64)
    bins = decay_bins(len(values))
    return float(np.mean(values[bins[0]]) - np.mean(values[bins[-1]]))


def summarize(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, recall, decay) of one object's per-frame values (at least one frame)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no scored frames to summarize")
    return mean(values), recall(values), decay(values)
