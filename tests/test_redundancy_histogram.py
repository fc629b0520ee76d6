"""Cosine histograms: known answers, exactness at bin edges, independence from blocking."""

from __future__ import annotations

import numpy as np
import pytest

from vosbench.errors import VosbenchError
from vosbench.redundancy.histogram import Bins, Unit, max_counts, pair_counts

BINS = Bins(100)


def reference_pairs(features: np.ndarray, bins: Bins = BINS) -> np.ndarray:
    """The definition, written out: float64 unit rows, the full matrix, np.histogram."""
    x = features.astype(np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1)
    cos = np.clip(x @ x.T, -1, 1)[np.triu_indices(len(x), 1)]
    return np.histogram(cos, bins.count, (-1, 1))[0]


def reference_max(query: np.ndarray, keys: np.ndarray, bins: Bins = BINS) -> np.ndarray:
    q, k = (a.astype(np.float64) / np.linalg.norm(a.astype(np.float64), axis=1, keepdims=True) for a in (query, keys))
    return np.histogram(np.clip(q @ k.T, -1, 1).max(axis=1), bins.count, (-1, 1))[0]


def bin_of(value: float) -> int:
    return int(np.searchsorted(BINS.edges, value, side="right") - 1)


def test_identical_frames_put_every_inter_count_in_the_top_bin():
    features = np.random.default_rng(0).standard_normal((50, 16)).astype(np.float32)
    counts = max_counts(Unit.of(features), Unit.of(features.copy()), BINS)
    assert counts[-1] == 50 and counts.sum() == 50


def test_orthogonal_features_put_every_pair_in_the_bin_starting_at_zero():
    features = np.eye(12, 40, dtype=np.float32) * 3.0
    counts = pair_counts(Unit.of(features), BINS)
    assert counts.sum() == 12 * 11 // 2
    assert counts[bin_of(0.0)] == 66 and BINS.edges[bin_of(0.0)] == 0.0


def test_opposite_and_zero_rows():
    x = np.array([[1.0, 2.0, 0.5]], np.float32)
    counts = pair_counts(Unit.of(np.concatenate([x, -2 * x])), BINS)
    assert counts[0] == 1  # -1 lies in the first bin
    counts = pair_counts(Unit.of(np.concatenate([x, np.zeros_like(x)])), BINS)
    assert counts[bin_of(0.0)] == 1  # a zero row has cosine 0 with anything


@pytest.mark.parametrize("n", [1, 2, 3, 57])
def test_pair_totals_are_n_choose_2(n):
    features = np.random.default_rng(n).standard_normal((n, 8)).astype(np.float32)
    assert pair_counts(Unit.of(features), BINS).sum() == n * (n - 1) // 2


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 18])
def test_counts_equal_the_full_matrix_histogram_however_blocked(chunk):
    rng = np.random.default_rng(1)
    features = rng.standard_normal((203, 24)).astype(np.float32) + 0.3  # a spread of cosines
    other = rng.standard_normal((150, 24)).astype(np.float32) + 0.3
    assert np.array_equal(pair_counts(Unit.of(features), BINS, chunk), reference_pairs(features))
    assert np.array_equal(max_counts(Unit.of(features), Unit.of(other), BINS, chunk), reference_max(features, other))


def test_cosines_a_hair_from_an_edge_are_binned_exactly():
    # Pairs of 64-channel rows whose cosine is an interior edge plus or minus up to 1e-7:
    # float32 cannot tell their side, float64 can; the counts must be np.histogram's of
    # the float64 cosines of the float32 rows.
    rng = np.random.default_rng(2)
    targets = (BINS.edges[1:-1, None] + np.array([-1e-7, -3e-8, -1e-8, 1e-8, 3e-8, 1e-7])[None]).ravel()
    pairs = []
    for c in targets:
        u, w = np.linalg.qr(rng.standard_normal((64, 2)))[0].T
        pairs.append(np.stack([u, c * u + np.sqrt(1 - c * c) * w]).astype(np.float32))
    counts = sum(pair_counts(Unit.of(pair), BINS) for pair in pairs)
    exact = sum(reference_pairs(pair) for pair in pairs)
    assert counts.sum() == len(targets)
    assert np.array_equal(counts, exact)
    # float32 alone bins some of them on the wrong side
    naive = sum(np.histogram(Unit.of(p).fast[0] @ Unit.of(p).fast[1], BINS.count, (-1, 1))[0] for p in pairs)
    assert not np.array_equal(naive, exact)


def test_bins_must_put_every_threshold_on_an_edge():
    assert Bins(20).edge_index(0.9) == 19
    with pytest.raises(VosbenchError, match="multiple of 20"):
        Bins(30).edge_index(0.9)
    with pytest.raises(VosbenchError):
        Bins(0)


def test_features_with_nan_are_refused():
    with pytest.raises(VosbenchError, match="NaN"):
        Unit.of(np.array([[1.0, np.nan]]))
