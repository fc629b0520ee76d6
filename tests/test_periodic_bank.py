"""The periodic memory bank: schedule, top-k readout, storage growth, eviction, late objects."""

from __future__ import annotations

import math

import pytest
import torch

from methods.memory.periodic import PeriodicBank
from methods.memory.similarity import SIMILARITIES, neg_sq_l2, scaled_dot

CK, CV, N = 8, 6, 10


def frame(seed: int, objects: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    key = torch.randn(CK, N, generator=g)
    values = torch.randn(objects, CV, N, generator=g)
    return key.expand(objects, -1, -1), values


def write(bank: PeriodicBank, index: int, objects: int = 2) -> None:
    keys, values = frame(index, objects)
    bank.write(index, keys, values, torch.full((objects, N), 0.5))


def reference_read(keys: torch.Tensor, values: torch.Tensor, query: torch.Tensor, top_k: int | None, similarity) -> torch.Tensor:
    """Dense definition: softmax over the top-k affinities per query column, zero elsewhere."""
    affinity = similarity(keys, query).T  # [M, N]
    weights = torch.zeros_like(affinity)
    for j in range(query.shape[1]):
        column = affinity[:, j]
        k = column.numel() if top_k is None else min(top_k, column.numel())
        top, index = column.topk(k)
        weights[index, j] = torch.exp(top - top.max()) / torch.exp(top - top.max()).sum()
    return values @ weights


def test_similarities_match_their_definitions():
    g = torch.Generator().manual_seed(1)
    m, q = torch.randn(CK, 7, generator=g), torch.randn(CK, 5, generator=g)
    distance = ((m[:, :, None] - q[:, None, :]) ** 2).sum(0)
    # -|m - q|^2 / sqrt(C) up to the per-query |q|^2 / sqrt(C)
    expected = (-distance + (q**2).sum(0)) / math.sqrt(CK)
    torch.testing.assert_close(neg_sq_l2(m, q), expected.T, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(scaled_dot(m, q), q.T @ m / math.sqrt(CK))


def test_schedule_first_given_then_every_nth_never_last():
    bank = PeriodicBank(every=3)
    bank.reset(1)
    assert bank.wants(0, is_last=False)
    write(bank, 0, objects=1)
    assert [t for t in range(1, 10) if bank.wants(t, False)][:1] == [3]
    assert not bank.wants(3, is_last=True)
    write(bank, 3, objects=1)
    # an object given at frame 4 forces a write there, and the period restarts from it
    bank.add_objects(1)
    assert bank.wants(4, False)
    write(bank, 4, objects=2)
    assert [t for t in range(5, 9) if bank.wants(t, False)] == [7, 8]
    assert bank.frames() == [0, 3, 4]


@pytest.mark.parametrize("top_k", [3, None, 100])
@pytest.mark.parametrize("similarity", ["l2", "dot"])
def test_readout_is_top_k_softmax(top_k, similarity):
    bank = PeriodicBank(every=1, top_k=top_k, similarity=similarity)
    bank.reset(2)
    for t in range(3):
        write(bank, t)
    keys = torch.cat([frame(t)[0][0] for t in range(3)], dim=1)
    values = torch.cat([frame(t)[1] for t in range(3)], dim=2)
    query = torch.randn(CK, N, generator=torch.Generator().manual_seed(9))
    got = bank.read(query).values
    assert got.shape == (2, CV, N)
    for k in range(2):
        torch.testing.assert_close(got[k], reference_read(keys, values[k], query, top_k, SIMILARITIES[similarity]), rtol=1e-5, atol=1e-5)
    # a query per object (the same one expanded) reads the same
    torch.testing.assert_close(bank.read(query.expand(2, -1, -1)).values, got)


def test_storage_grows_by_doubling_and_keeps_content():
    bank = PeriodicBank(every=1, top_k=None)
    bank.reset(2)
    capacities = []
    for t in range(5):
        write(bank, t)
        capacities.append(bank._keys.shape[1] // N)
    assert capacities == [2, 2, 4, 4, 8]
    assert bank.stored_features() == [5 * N, 5 * N]
    assert bank.nbytes() == 5 * N * (CK + 2 * CV) * 4
    keys = torch.cat([frame(t)[0][0] for t in range(5)], dim=1)
    torch.testing.assert_close(bank._keys[:, : 5 * N], keys)


def test_capacity_evicts_the_oldest_frame_that_was_not_given():
    bank = PeriodicBank(every=1, top_k=None, max_frames=3)
    bank.reset(1)
    for t in range(6):
        write(bank, t, objects=1)
    assert bank.frames() == [0, 4, 5]
    assert bank.stored_features() == [3 * N]
    assert bank._keys.shape[1] == 3 * N  # never allocated past the capacity
    # what is read is exactly a bank holding frames 0, 4, 5
    fresh = PeriodicBank(every=1, top_k=None)
    fresh.reset(1)
    for t in (0, 4, 5):
        write(fresh, t, objects=1)
    query = torch.randn(CK, N, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(bank.read(query).values, fresh.read(query).values)


def test_given_frames_of_late_objects_are_kept_too():
    bank = PeriodicBank(every=1, top_k=None, max_frames=2)
    bank.reset(1)
    write(bank, 0, objects=1)
    write(bank, 1, objects=1)
    bank.add_objects(1)
    write(bank, 2, objects=2)  # evicts 1; frame 2 is object 2's given frame
    write(bank, 3, objects=2)  # 0 and 2 are protected: the bank grows past max_frames
    assert bank.frames() == [0, 2, 3]
    assert bank.stored_features() == [3 * N, 2 * N]


def test_late_object_reads_only_frames_since_it_was_given():
    bank = PeriodicBank(every=1, top_k=4)
    bank.reset(1)
    write(bank, 0, objects=1)
    write(bank, 1, objects=1)
    bank.add_objects(1)
    assert bank.stored_features() == [2 * N, 0]
    query = torch.randn(CK, N, generator=torch.Generator().manual_seed(5))
    assert torch.all(bank.read(query).values[1] == 0)  # nothing stored for it yet
    write(bank, 2, objects=2)
    write(bank, 3, objects=2)
    got = bank.read(query).values

    keys_all = torch.cat([frame(t, 1)[0][0] for t in (0, 1)] + [frame(t)[0][0] for t in (2, 3)], dim=1)
    values_1 = torch.cat([frame(t, 1)[1][0] for t in (0, 1)] + [frame(t)[1][0] for t in (2, 3)], dim=1)
    values_2 = torch.cat([frame(t)[1][1] for t in (2, 3)], dim=1)
    torch.testing.assert_close(got[0], reference_read(keys_all, values_1, query, 4, neg_sq_l2), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[1], reference_read(keys_all[:, 2 * N :], values_2, query, 4, neg_sq_l2), rtol=1e-5, atol=1e-5)
    assert bank.nbytes() == 4 * N * CK * 4 + (4 + 2) * N * CV * 4


def test_reset_forgets_everything_and_bad_settings_raise():
    bank = PeriodicBank(every=2)
    bank.reset(1)
    write(bank, 0, objects=1)
    bank.reset(3)
    assert bank.stored_features() == [0, 0, 0] and bank.nbytes() == 0 and bank.frames() == []
    for settings in ({"every": 0}, {"top_k": 0}, {"max_frames": 0}):
        with pytest.raises(ValueError):
            PeriodicBank(**settings)


@pytest.mark.parametrize("top_k", [3, None])
def test_reading_in_blocks_of_queries_changes_nothing(top_k, monkeypatch):
    from methods.memory import similarity

    g = torch.Generator().manual_seed(4)
    keys, values, query = torch.randn(CK, 50, generator=g), torch.randn(2, 50, CV, generator=g), torch.randn(CK, 23, generator=g)
    whole = similarity.read_values(keys, values, query, "l2", top_k)
    monkeypatch.setattr(similarity, "AFFINITY_BLOCK", 7 * 50)  # 7 queries per block, the last one short
    torch.testing.assert_close(similarity.read_values(keys, values, query, "l2", top_k), whole)
