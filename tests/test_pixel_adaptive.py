"""The pixel-adaptive memory on small tensors whose answers are known by construction."""

from __future__ import annotations

import math

import pytest
import torch

from methods.memory.pixel_adaptive import (
    PixelAdaptiveMemory,
    novel_positions,
    novelty_count,
    varied_fraction,
)
from vosbench.errors import VosbenchError


def unit(*components: float) -> list[float]:
    norm = math.sqrt(sum(c * c for c in components))
    return [c / norm for c in components]


def drive(policy: PixelAdaptiveMemory, frames: list[tuple[torch.Tensor, torch.Tensor]], query: torch.Tensor):
    """Run a video as a method does: read (from frame 1 on), then observe and write. Returns sizes per frame."""
    stored, matched = [], []
    policy.reset(frames[0][0].shape[0])
    for t, (keys, values) in enumerate(frames):
        is_last = t == len(frames) - 1
        if t > 0:
            policy.read(query)
        masks = torch.ones(keys.shape[0], keys.shape[-1])
        policy.observe(t, torch.zeros(3, keys.shape[-1]), masks)
        if policy.wants(t, is_last):
            policy.write(t, keys, values, masks)
        if is_last:
            policy.finish()
        stored.append(policy.stored_features())
        matched.append(policy.matched_features())
    return stored, matched


def random_frames(count: int, objects: int = 1, positions: int = 10, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(objects, 4, positions, generator=generator), torch.randn(objects, 3, positions, generator=generator))
        for _ in range(count)
    ]


def test_novelty_count_is_the_release_rule():
    assert novelty_count(299, 0.1) == 30  # blackswan-1obj
    assert novelty_count(350, 0.1) == 35  # car-shadow-2obj
    assert novelty_count(30, 0.1) == 3  # 30 * 0.1 = 3.0000000000000004 must not round up
    assert novelty_count(10, 0.0) == 0
    assert novelty_count(10, 1.0) == 10


def test_novel_positions_picks_the_least_similar_columns_in_raster_order():
    stored = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # e1, e2
    # columns: 0 copy of e1 (cos 1), 1 orthogonal e3 (cos 0), 2 scaled e2 (cos 1),
    # 3 halfway e1/e3 (cos .71), 4 mostly e3 (cos .24), 5 -e3 (cos 0)
    new = torch.tensor(
        [
            [1.0, 0.0, 0.0, *unit(1, 1)[:1], unit(1, 4)[0], 0.0],
            [0.0, 0.0, 5.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, unit(1, 1)[1], unit(1, 4)[1], -1.0],
        ]
    )
    assert novel_positions(stored, new, 2).tolist() == [1, 5]
    # the third most novel (4) lies between them: appended in raster order, not rank order
    assert novel_positions(stored, new, 3).tolist() == [1, 4, 5]
    assert novel_positions(stored, new, 4).tolist() == [1, 3, 4, 5]


def test_novel_positions_uses_the_best_match_over_all_stored_columns():
    stored = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    new = torch.tensor([[1.0, 0.0, 0.7], [0.0, 1.0, -0.7]])  # 0, 1 duplicate a stored column
    assert novel_positions(stored, new, 1).tolist() == [2]


def test_periodic_schedule_temporary_frame_and_commit_timing():
    policy = PixelAdaptiveMemory(mem_every=3, beta=0.2)
    frames = random_frames(8)
    stored, matched = drive(policy, frames, torch.randn(4, 10))
    # frame 0 whole after frame 1 is segmented; frames 3 and 6 add 2 columns each, one frame late
    assert [s[0] for s in stored] == [0, 10, 10, 10, 12, 12, 12, 14]
    # every read matches the stored columns plus the whole previous frame
    assert [m[0] for m in matched] == [0, 10, 20, 20, 20, 22, 22, 22]
    assert policy.memorised == [0, 3, 6]
    assert [u.frame for u in policy.updates] == [3, 6]
    # what was appended is frame 3's novel columns against frames 0's memory
    expected = novel_positions(frames[0][0][0], frames[3][0][0], 2)
    assert policy.updates[0].positions[0].tolist() == expected.tolist()
    assert torch.equal(policy._keys[0][:, 10:12], frames[3][0][0][:, expected])
    assert torch.equal(policy._values[0][:, 10:12], frames[3][1][0][:, expected])


def test_finish_commits_a_due_last_written_frame():
    policy = PixelAdaptiveMemory(mem_every=3, beta=0.5)
    stored, _ = drive(policy, random_frames(5), torch.randn(4, 10))  # frame 3 is written last
    assert [s[0] for s in stored] == [0, 10, 10, 10, 15]


def test_read_is_softmax_attention_over_stored_and_previous_frame():
    policy = PixelAdaptiveMemory(mem_every=2)
    frames = random_frames(3, objects=2, positions=6, seed=1)
    policy.reset(2)
    for t in range(2):
        policy.write(t, *frames[t], torch.ones(2, 6))
    query = torch.randn(4, 6)
    readout = policy.read(query)
    assert readout.values.shape == (2, 3, 6)
    for o in range(2):
        keys = torch.cat([frames[0][0][o], frames[1][0][o]], dim=1)  # stored frame 0 + temporary frame 1
        values = torch.cat([frames[0][1][o], frames[1][1][o]], dim=1)
        weights = torch.softmax(keys.T @ query / 2.0, dim=0)  # dot / sqrt(4)
        torch.testing.assert_close(readout.values[o], values @ weights)
    assert policy.matched_features() == [12, 12]


def test_read_with_per_object_queries_top_k_and_l2():
    keys = torch.tensor([[[1.0, 0.0, -1.0], [0.0, 1.0, 0.0]]])
    values = torch.tensor([[[10.0, 20.0, 30.0]]])
    policy = PixelAdaptiveMemory(top_k=1)
    policy.reset(1)
    policy.write(0, keys, values, torch.ones(1, 3))
    query = torch.tensor([[[0.9, 0.0], [0.1, 1.0]]])  # [K, C, N]: most like column 0, then column 1
    assert policy.read(query).values.tolist() == [[[10.0, 20.0]]]

    l2 = PixelAdaptiveMemory(similarity="l2")
    l2.reset(1)
    l2.write(0, keys, values, torch.ones(1, 3))
    q = torch.tensor([[2.0], [0.5]])
    distances = ((keys[0] - q) ** 2).sum(0)
    weights = torch.softmax(-distances / math.sqrt(2), dim=0)
    torch.testing.assert_close(l2.read(q).values[0, :, 0], values[0] @ weights)


def test_late_object_starts_empty_and_keeps_its_first_frame_whole():
    policy = PixelAdaptiveMemory(mem_every=2, beta=0.25)
    policy.reset(1)
    generator = torch.Generator().manual_seed(2)
    keys = lambda k: torch.randn(k, 4, 8, generator=generator)  # noqa: E731
    values = lambda k: torch.randn(k, 3, 8, generator=generator)  # noqa: E731
    policy.write(0, keys(1), values(1), torch.ones(1, 8))
    policy.read(torch.randn(4, 8))
    policy.add_objects(1)
    assert policy.stored_features() == [0, 0]
    empty = policy.read(torch.randn(4, 8))  # the new object has nothing to read yet
    assert empty.values.shape == (2, 3, 8) and not empty.values[1].any()
    assert policy.matched_features() == [8, 0]
    policy.write(1, keys(2), values(2), torch.ones(2, 8))  # commits frame 0 for object 1
    assert policy.stored_features() == [8, 0]
    policy.read(torch.randn(4, 8))
    assert policy.matched_features() == [16, 8]
    policy.write(2, keys(2), values(2), torch.ones(2, 8))  # frame 1 is not due, but it is object 2's first
    assert policy.stored_features() == [8, 8]
    policy.finish()  # frame 2 is due: 2 novel columns each
    assert policy.stored_features() == [10, 10]
    assert [u.frame for u in policy.updates] == [2] and sorted(policy.updates[0].positions) == [0, 1]


def test_nbytes_counts_stored_and_temporary_columns():
    policy = PixelAdaptiveMemory()
    policy.reset(1)
    policy.write(0, torch.zeros(1, 4, 10), torch.zeros(1, 3, 10), torch.ones(1, 10))
    assert policy.nbytes() == (4 + 3) * 10 * 4
    policy.write(1, torch.zeros(1, 4, 10), torch.zeros(1, 3, 10), torch.ones(1, 10))
    assert policy.nbytes() == 2 * (4 + 3) * 10 * 4


# -- the paper's variation-aware trigger ---------------------------------------------


def run_trigger(images: list[torch.Tensor], masks: list[torch.Tensor], **settings) -> list[int]:
    policy = PixelAdaptiveMemory(trigger="variation", **settings)
    policy.reset(masks[0].shape[0])
    n = images[0].shape[-1]
    for t, (image, mask) in enumerate(zip(images, masks)):
        policy.observe(t, image, mask)
        if policy.wants(t, t == len(images) - 1):
            policy.write(t, torch.randn(mask.shape[0], 4, n), torch.randn(mask.shape[0], 3, n), mask)
    policy.finish()
    return policy.memorised


def test_static_sequence_never_triggers():
    image, mask = torch.rand(3, 100), (torch.rand(1, 100) > 0.5).float()
    assert run_trigger([image] * 12, [mask] * 12, th_f=0.0, th_m=0.0, p_th=0.0) == [0]


def test_large_change_triggers_and_small_change_does_not():
    image = torch.zeros(3, 100)
    mask = torch.zeros(1, 100)
    moved_image, moved_mask = image.clone(), mask.clone()
    moved_image[:, :30], moved_mask[:, :30] = 1.0, 1.0  # 30 % of the cells change in colour and mask
    nudged_image, nudged_mask = image.clone(), mask.clone()
    nudged_image[:, :2], nudged_mask[:, :2] = 1.0, 1.0  # 2 %
    images = [image, image, moved_image, moved_image, nudged_image]
    masks = [mask, mask, moved_mask, moved_mask, nudged_mask]
    # frame 4 differs from frame 2 (the last memorised) by 28 % again; frame 5 would be last
    assert run_trigger(images + [image], masks + [mask], p_th=0.1) == [0, 2, 4]
    assert run_trigger([image, nudged_image, image], [mask, nudged_mask, mask], p_th=0.1) == [0]


def test_trigger_needs_colour_and_mask_to_change():
    image, mask = torch.zeros(3, 50), torch.zeros(2, 50)
    recoloured = torch.ones(3, 50)
    remasked = mask.clone()
    remasked[1] = 1.0
    assert run_trigger([image, recoloured, image], [mask, mask, mask]) == [0]
    assert run_trigger([image, image, image], [mask, remasked, mask]) == [0]
    assert run_trigger([image, recoloured, image], [mask, remasked, mask]) == [0, 1]


def test_trigger_measures_drift_from_the_last_memorised_frame():
    # each frame adds 0.06 of colour and 0.3 of mask over the whole grid: no step passes
    # th_f = 0.1 / th_m = 0.5 alone, but by frame 2 the drift from frame 0 does
    images = [torch.full((3, 20), 0.06 * t) for t in range(5)]
    masks = [torch.full((1, 20), 0.3 * t) for t in range(5)]
    assert run_trigger(images, masks, p_th=0.5) == [0, 2]


def test_varied_fraction_counts_objects_new_since_the_reference_as_absent():
    image = torch.zeros(3, 4)
    changed = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).expand(3, 4)
    masks = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]])  # object 2 is new
    assert varied_fraction(changed, image, masks, torch.zeros(1, 4), 0.1, 0.5) == 0.25


def test_variation_trigger_without_observed_colour_is_a_clear_error():
    policy = PixelAdaptiveMemory(trigger="variation")
    policy.reset(1)
    with pytest.raises(VosbenchError, match="observe"):
        policy.write(0, torch.zeros(1, 4, 5), torch.zeros(1, 3, 5), torch.ones(1, 5))


@pytest.mark.parametrize(
    "settings, word",
    [
        ({"trigger": "sometimes"}, "trigger"),
        ({"mem_every": 0}, "mem_every"),
        ({"beta": 1.5}, "beta"),
        ({"p_th": -0.1}, "p_th"),
        ({"top_k": 0}, "top_k"),
        ({"similarity": "cosine"}, "similarity"),
    ],
)
def test_bad_settings_are_clear_errors(settings, word):
    with pytest.raises(VosbenchError, match=word):
        PixelAdaptiveMemory(**settings)
