"""XMem's working/long-term memory policy on small tensors, against direct formulas."""

from __future__ import annotations

import math

import pytest
import torch

from methods.memory.consolidation import WorkingLongTermMemory
from methods.memory.similarity import anisotropic_l2, read_values

C, N, CV = 8, 6, 5  # key channels, positions per frame, value channels


def frame(seed: int, objects: int = 1):
    g = torch.Generator().manual_seed(seed)
    key = torch.randn(C, N, generator=g)
    return {
        "keys": key.expand(objects, -1, -1),
        "values": torch.randn(objects, CV, N, generator=g),
        "masks": torch.rand(objects, N, generator=g),
        "shrinkage": 1 + torch.rand(N, generator=g),
        "selection": torch.rand(C, N, generator=g),
    }


def direct_similarity(keys, query, shrinkage, selection):
    diff = keys[:, :, None] - query[:, None, :]  # [C, M, N]
    return (-shrinkage[:, None] * (selection[:, None, :] * diff**2).sum(0) / math.sqrt(C)).T  # [N, M]


def test_anisotropic_l2_is_the_weighted_distance():
    g = torch.Generator().manual_seed(0)
    keys, query = torch.randn(C, 7, generator=g), torch.randn(C, 4, generator=g)
    shrinkage, selection = 1 + torch.rand(7, generator=g), torch.rand(C, 4, generator=g)
    torch.testing.assert_close(anisotropic_l2(keys, query, shrinkage, selection), direct_similarity(keys, query, shrinkage, selection))
    # without a selection: shrinkage times STCN's l2 without the query's norm (as XMem)
    plain = (2 * query.T @ keys - keys.pow(2).sum(0)) / math.sqrt(C)
    torch.testing.assert_close(anisotropic_l2(keys, query, shrinkage, None), plain * shrinkage)


def test_top_k_read_counts_usage_as_the_weights_received():
    g = torch.Generator().manual_seed(1)
    keys, values, query = torch.randn(C, 20, generator=g), torch.randn(2, 20, CV, generator=g), torch.randn(C, 9, generator=g)
    shrinkage, selection = 1 + torch.rand(20, generator=g), torch.rand(C, 9, generator=g)
    usage = torch.zeros(20)
    out = read_values(keys, values, query, "l2", 3, shrinkage, selection, usage)
    similarity = direct_similarity(keys, query, shrinkage, selection)
    best, index = similarity.topk(3, dim=1)
    weights = torch.zeros_like(similarity).scatter_(1, index, torch.softmax(best, dim=1))  # [N, M]
    torch.testing.assert_close(out, (weights @ values).transpose(1, 2))
    torch.testing.assert_close(usage, weights.sum(0))
    with pytest.raises(ValueError, match="l2"):
        read_values(keys, values, query, "dot", 3, shrinkage, selection)


def test_consolidation_keeps_first_and_newest_frames_and_adds_the_most_used_prototypes():
    memory = WorkingLongTermMemory(every=1, top_k=4, max_mid_term_frames=4, min_mid_term_frames=2, num_prototypes=3)
    memory.reset(1)
    frames = [frame(seed) for seed in range(4)]
    for t in range(3):
        assert memory.wants(t, False)
        memory.write(t, **frames[t])
        memory.read(frame(10 + t)["keys"][0], frame(10 + t)["selection"])
    assert memory.tiers() == {"working": 3 * N, "long_term": 0} and memory.events() == []
    # candidates: frames 1 and 2 (frame 0 stays, and min_mid_term_frames - 1 = 1 newest frame)
    usage = memory.usage()[N : 3 * N].clone()
    memory.write(3, **frames[3])
    (event,) = memory.events()
    assert (event.frame, event.kind, event.before, event.after, event.entries) == (3, "consolidation", 0, 3, 2 * N)
    assert memory.tiers() == {"working": 2 * N, "long_term": 3}
    chosen = usage.topk(3).indices
    cand_keys = torch.cat([frames[1]["keys"][0], frames[2]["keys"][0]], dim=1)
    cand_values = torch.cat([frames[1]["values"][0], frames[2]["values"][0]], dim=1)  # [CV, 2N]
    cand_shrinkage = torch.cat([frames[1]["shrinkage"], frames[2]["shrinkage"]])
    cand_selection = torch.cat([frames[1]["selection"], frames[2]["selection"]], dim=1)
    weights = torch.softmax(direct_similarity(cand_keys, cand_keys[:, chosen], cand_shrinkage, cand_selection[:, chosen]), dim=1)
    torch.testing.assert_close(memory._keys[:, :3], cand_keys[:, chosen])
    torch.testing.assert_close(memory._values[0, :3], weights @ cand_values.T)
    torch.testing.assert_close(memory._shrinkage[:3], weights @ cand_shrinkage)
    # working memory: frame 0, then frame 3; new entries unused
    torch.testing.assert_close(memory._keys[:, 3:], torch.cat([frames[0]["keys"][0], frames[3]["keys"][0]], dim=1))
    assert torch.all(memory.usage()[:3] == 0) and memory._selection.shape == (C, 2 * N)


def filled(count_usage: bool) -> WorkingLongTermMemory:
    """Frames 0-2 written and read: one consolidation, 4 long-term prototypes, read once."""
    memory = WorkingLongTermMemory(
        every=1, top_k=2, count_usage=count_usage, max_mid_term_frames=3, min_mid_term_frames=2,
        num_prototypes=4, max_long_term_elements=6,
    )
    memory.reset(1)
    for t in range(3):
        memory.write(t, **frame(t))
        memory.read(frame(20 + t)["keys"][0], frame(20 + t)["selection"])
    return memory


@pytest.mark.parametrize("count_usage", [True, False])
def test_removal_drops_the_least_used_long_term_entries(count_usage):
    memory = filled(count_usage)
    assert memory.tiers() == {"working": 2 * N, "long_term": 4}
    keys = memory._keys[:, :4].clone()
    usage = memory.usage()[:4]
    assert bool(usage.sum() > 0) == count_usage  # read once, counted only with count_usage
    # frame 3 fills working memory again: 4 >= 6 - 4 long-term entries, so 2 go first
    memory.write(3, **frame(3))
    kinds = [(e.frame, e.kind, e.before, e.after) for e in memory.events()]
    assert kinds == [(2, "consolidation", 0, 4), (3, "removal", 4, 2), (3, "consolidation", 2, 6)]
    kept = sorted(usage.topk(2).indices.tolist()) if count_usage else [2, 3]  # the most used, or the newest
    torch.testing.assert_close(memory._keys[:, :2], keys[:, kept])
    assert memory.tiers() == {"working": 2 * N, "long_term": 6}


def test_without_long_term_working_memory_grows_and_reads_everything():
    memory = WorkingLongTermMemory(every=2, top_k=None, long_term=False, max_mid_term_frames=2, min_mid_term_frames=1)
    memory.reset(1)
    written = [t for t in range(9) if memory.wants(t, t == 8) and memory.write(t, **frame(t)) is None]
    assert written == [0, 2, 4, 6] and memory.tiers() == {"working": 4 * N, "long_term": 0}
    assert memory.stored_features() == [4 * N] and memory.events() == []


def test_late_objects_read_zero_values_before_they_were_given():
    memory = WorkingLongTermMemory(every=5, top_k=None)
    memory.reset(0)
    assert not memory.wants(0, False)  # nothing given yet
    memory.add_objects(1)
    memory.write(0, **frame(0))
    assert not memory.wants(1, False)
    memory.add_objects(1)
    assert memory.wants(1, False) and not memory.wants(1, True)
    memory.write(1, **frame(1, objects=2))
    query = frame(2)
    out = memory.read(query["keys"][0], query["selection"]).values
    assert out.shape == (2, CV, N) and memory.stored_features() == [2 * N, 2 * N]
    assert torch.all(memory._values[1, :N] == 0)
    keys, foreground = memory.foreground_entries()
    assert keys.shape == (C, 2 * N) and torch.all(foreground[1, :N] == 0)  # nor any foreground there
    # keys, shrinkage, selection, values, foreground shares
    assert memory.nbytes() == 4 * (2 * N * C + 2 * N + 2 * N * C + 2 * 2 * N * CV + 2 * 2 * N)


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"every": 0}, "every"),
        ({"top_k": 0}, "top_k"),
        ({"min_mid_term_frames": 10, "max_mid_term_frames": 10}, "below max_mid_term_frames"),
        ({"num_prototypes": 64, "max_long_term_elements": 32}, "at least num_prototypes"),
    ],
)
def test_bad_settings(settings, match):
    with pytest.raises(ValueError, match=match):
        WorkingLongTermMemory(**settings)
