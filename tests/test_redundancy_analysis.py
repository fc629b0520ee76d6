"""The per-sequence analyses on small synthetic features whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from vosbench.errors import VosbenchError
from vosbench.redundancy.analysis import ANALYSES, Frame, Settings, analyse
from vosbench.redundancy.bank import BankRedundancy
from vosbench.redundancy.grid import grid_colour, grid_masks
from vosbench.redundancy.histogram import Bins, Unit
from vosbench.redundancy.summary import summarise

H, W = 6, 8  # key grid
N = H * W


def masked_frames(features: list[np.ndarray], colours: list[np.ndarray], labels: list[np.ndarray], objects: int) -> list[Frame]:
    return [Frame(f, grid_colour(c, (H, W)), grid_masks(l, objects, (H, W))) for f, c, l in zip(features, colours, labels)]


def totals(result) -> dict[tuple[str, int], int]:
    grouped = result.histograms.groupby(["analysis", "frame"], observed=True)["count"].sum()
    return {key: int(value) for key, value in grouped.items()}


def test_counts_per_frame_follow_the_definitions():
    rng = np.random.default_rng(0)
    count, channels, objects, bases = 5, 12, 2, 8
    features = [rng.standard_normal((N, channels)).astype(np.float32) for _ in range(count)]
    colours = [rng.integers(0, 256, (H * 4, W * 4, 3), dtype=np.uint8) for _ in range(count)]
    labels = []
    for t in range(count):
        label = np.zeros((H * 4, W * 4), np.uint8)
        label[2 + t : 12 + t, 3:15] = 1
        label[14:22, 16:30] = 2
        labels.append(label)
    result = analyse(masked_frames(features, colours, labels, objects), count, objects, Settings(bases=bases))
    assert result.analyses == list(ANALYSES)
    got = totals(result)
    for t in range(count):
        assert got[("intra", t)] == N * (N - 1) // 2
        assert got[("intra_em", t)] == bases * (bases - 1) // 2
        for analysis in ("inter", "inter_em"):
            assert got.get((analysis, t), 0) == (N if t else 0)
        for analysis in ("matching_fixed", "matching_adaptive"):
            assert got.get((analysis, t), 0) == (N * objects if t else 0)
    assert list(result.frames["frame"]) == list(range(count))
    assert (result.frames["positions"] == N).all()


def test_without_masks_the_mask_analyses_are_skipped():
    rng = np.random.default_rng(1)
    frames = [Frame(rng.standard_normal((N, 4)).astype(np.float32)) for _ in range(3)]
    result = analyse(frames, 3, 1, Settings(bases=4))
    assert result.analyses == ["inter", "intra", "inter_em", "intra_em"]
    assert set(result.histograms["analysis"].astype(str)) == set(result.analyses)
    assert result.frames["triggered"].isna().all()
    with pytest.raises(ValueError, match="masks for every frame"):
        mixed = [Frame(f.features) for f in frames]
        mixed[1].masks = (torch.zeros(1, N), torch.zeros(1, N))
        analyse(mixed, 3, 1, Settings(bases=4))


def test_a_frame_of_one_repeated_feature_is_matched_exactly_by_swem_bases():
    # Every position holds the same vector: the bases fitted to it point at it, so every
    # position of the next frame matches some base with cosine 1, fixed or adaptive.
    rng = np.random.default_rng(2)
    vector = rng.standard_normal(10).astype(np.float32)
    features = [np.tile(vector, (N, 1)) for _ in range(3)]
    colours = [np.full((H * 4, W * 4, 3), 90, np.uint8)] * 3
    label = np.zeros((H * 4, W * 4), np.uint8)
    label[:12] = 1
    result = analyse(masked_frames(features, colours, [label] * 3, 1), 3, 1, Settings(bases=6))
    for analysis in ("matching_fixed", "matching_adaptive", "inter"):
        rows = result.histograms[result.histograms["analysis"] == analysis]
        assert rows["count"].sum() == 2 * N
        assert np.allclose(rows["bin_lo"], 0.98)


def test_variation_fires_on_frames_that_change_in_colour_and_mask():
    count, objects = 6, 1
    features = [np.ones((N, 3), np.float32)] * count
    still = np.full((H * 4, W * 4, 3), 40, np.uint8)
    moved = still.copy()
    moved[:, : W * 2] = 220  # the left half changes colour...
    label_still = np.zeros((H * 4, W * 4), np.uint8)
    label_still[:, W * 2 :] = 1
    label_moved = np.zeros_like(label_still)
    label_moved[:, : W * 2] = 1  # ...and the object moves into it
    colours = [still, still, moved, moved, moved, still]
    labels = [label_still, label_still, label_moved, label_moved, label_moved, label_still]
    settings = Settings(bases=4)
    result = analyse(masked_frames(features, colours, labels, objects), count, objects, settings)
    frames = result.frames.set_index("frame")
    assert list(frames["triggered"]) == [True, False, True, False, False, True]
    assert pd.isna(frames.loc[0, "varied"])
    assert frames.loc[1, "varied"] == 0
    assert frames.loc[2, "frame_changed"] == N // 2 and frames.loc[2, "mask_changed"] == N
    assert frames.loc[2, "varied"] == N // 2 and frames.loc[2, "varied_fraction"] == 0.5
    assert frames.loc[3, "varied"] == 0  # against frame 2, now the reference
    added = math.ceil(settings.beta * N)
    assert list(frames["added"]) == [N * objects, 0, added, 0, 0, added]


def test_the_bank_grows_every_few_frames_and_finds_near_duplicates():
    bins = Bins(100)
    bank = BankRedundancy(bins, every=2)
    bank.start()
    distinct = np.eye(8, dtype=np.float32)  # orthogonal: no near duplicate
    twice = np.repeat(np.eye(4, 8, dtype=np.float32), 2, axis=0)  # every row has a twin
    assert bank.step(0, Unit.of(distinct), is_last=False)
    assert (bank.state.stored, bank.state.redundant) == (8, 0)
    assert not bank.step(1, Unit.of(twice), is_last=False)  # not due
    assert bank.step(2, Unit.of(distinct[:4] * 2 + distinct[4:] * 0.01), is_last=False)
    # the new rows are within 0.9 of rows 0..3 of frame 0 (both ways), not of each other
    assert (bank.state.stored, bank.state.redundant) == (12, 8)
    assert not bank.step(4, Unit.of(twice), is_last=True)  # never the last frame
    assert bank.step(4, Unit.of(twice), is_last=False)
    # every new row has a twin; rows 4..7 of frame 0 still have no near duplicate
    assert (bank.state.stored, bank.state.redundant) == (20, 16)
    assert bank.state.share == 16 / 20


def test_bank_redundancy_per_frame_carries_the_latest_state():
    rng = np.random.default_rng(3)
    frame = rng.standard_normal((N, 16)).astype(np.float32)
    frames = [Frame(frame.copy()) for _ in range(7)]
    result = analyse(frames, 7, 1, Settings(bases=4, bank_every=3))
    table = result.frames.set_index("frame")
    assert list(table["bank_written"]) == [True, False, False, True, False, False, False]
    assert list(table["bank_stored"]) == [N, N, N, 2 * N, 2 * N, 2 * N, 2 * N]
    assert table.loc[3, "bank_redundant"] == 2 * N  # frame 3 repeats frame 0 exactly


@pytest.mark.parametrize(("second", "redundant"), [("repeated", 4), ("orthogonal", 0)])
def test_long_term_prototypes_of_a_repeated_frame_are_all_near_duplicates(second, redundant):
    # every frame written; at frame 2 working memory holds 3 frames and frame 1 alone
    # (not the first, not the newest) gives the 4 prototypes
    rng = np.random.default_rng(4)
    n = c = 48
    middle = np.tile(rng.standard_normal((1, c)), (n, 1)) if second == "repeated" else np.eye(n, c)
    features = [rng.standard_normal((n, c)), middle, rng.standard_normal((n, c)), rng.standard_normal((n, c))]
    settings = Settings(bases=4, bank_every=1, max_mid_term_frames=3, min_mid_term_frames=2, num_prototypes=4)
    table = analyse([Frame(f.astype(np.float32)) for f in features], 4, 1, settings).frames.set_index("frame")
    assert list(table["long_term_changed"]) == [False, False, True, False]
    assert list(table["working_stored"]) == [n, 2 * n, 2 * n, 2 * n]  # the first and the newest frame stay
    assert list(table["long_term_stored"]) == [0, 0, 4, 4]
    assert list(table["long_term_redundant"]) == [0, 0, redundant, redundant]
    assert table.loc[3, "long_term_share"] == redundant / 4


def test_long_term_settings_are_checked():
    with pytest.raises(VosbenchError, match="long-term memory: min_mid_term_frames"):
        Settings(max_mid_term_frames=3, min_mid_term_frames=3)


def test_summary_fractions_are_shares_at_or_above_the_threshold():
    table = pd.DataFrame(
        {
            "sequence": ["a", "a", "a", "b"],
            "analysis": ["inter", "inter", "inter", "inter"],
            "bin_lo": [0.88, 0.9, 0.98, 0.5],
            "count": [1, 2, 3, 6],
        }
    )
    summary = summarise(table).set_index("sequence")
    assert summary.loc["a", "fraction"] == pytest.approx(5 / 6)
    assert summary.loc["b", "fraction"] == 0
    assert summary.loc["all", "above"] == 5 and summary.loc["all", "total"] == 12


@pytest.mark.parametrize(("settings", "message"), [({"bins": 30}, "multiple of 20"), ({"bases": 1}, "--bases")])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(VosbenchError, match=message):
        Settings(**settings)


def summaries_of(values: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """[K, Q, C + 1] summaries whose read values (sums over area + 1e-4) are ``values``."""
    return np.concatenate([values * (areas[..., None] + 1e-4), areas[..., None]], axis=-1).astype(np.float32)


def test_object_summaries_are_summed_on_the_bank_schedule_and_compared_within_each_object():
    rng = np.random.default_rng(5)
    c = 6
    first = np.zeros((2, 4, c))
    first[0, :3, :3] = [[1, 0, 0], [1, 0.05, 0], [0, 1, 0]]  # two near twins, one apart, one empty
    first[1] = np.eye(4, c)  # four orthogonal summaries
    areas = np.ones((2, 4))
    areas[0, 3] = 0
    later = np.zeros((2, 4, c + 1), np.float32)  # sums added, areas unchanged
    later[0, 2, 0] = 5.0  # the lone summary of object 1 turns towards the twins once summed
    later[1, :, 4] = 1.0  # object 2's summaries all gain one shared direction
    frames = [Frame(rng.standard_normal((N, 4)).astype(np.float32), summaries=s) for s in (
        summaries_of(first, areas), summaries_of(rng.standard_normal((2, 4, c)), areas), later, later,
    )]
    table = analyse(frames, 4, 2, Settings(bases=4, bank_every=2)).frames.set_index("frame")
    assert table["object_written"].tolist() == [True, False, True, False]  # never the last frame
    assert table["object_stored"].tolist() == [7, 7, 7, 7]  # the empty summary is not stored
    # after frame 0: the twins; after frame 2: object 1's three summaries all point along x
    # (cosines 0.9988 and 0.98), object 2's pairs reach cosine 0.5 only
    assert table["object_redundant"].tolist() == [2, 2, 3, 3]
    assert table.loc[2, "object_share"] == 3 / 7


def test_without_an_object_memory_its_columns_are_missing():
    rng = np.random.default_rng(6)
    frames = [Frame(rng.standard_normal((N, 4)).astype(np.float32)) for _ in range(3)]
    table = analyse(frames, 3, 1, Settings(bases=4)).frames
    assert table[["object_written", "object_stored", "object_redundant", "object_share"]].isna().all().all()
