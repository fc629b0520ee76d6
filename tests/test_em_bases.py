"""SWEM's EM-bases memory: the release's frame-0 state, and known answers on small features."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conformance import assert_bases_close, assert_draw_equal, load_case
from methods.memory.em_bases import (
    EMBases,
    compress,
    draw_keys,
    entry_feature,
    key_grid_masks,
    match,
    memorisation_weights,
)
from vosbench.errors import VosbenchError

CASES = [
    (case, file) for case in ("blackswan-1obj", "car-shadow-2obj") for file in ("expected.npz", "expected_native.npz")
]


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(min(2, before))
    yield
    torch.set_num_threads(before)


def frame0_memory(case: str, file: str, **settings) -> tuple[EMBases, dict]:
    """The policy after the case's frame 0, fed the recorded raw keys and mask0."""
    data = load_case("swem", case, expected=file)
    keys = torch.from_numpy(data["qk16_frame0"])
    num_objects = data["kappa_init"].shape[0]
    ids = torch.from_numpy(data["mask0"].astype(np.int64))
    onehot = torch.stack([ids == j for j in range(num_objects + 1)]).float()
    hard, soft = key_grid_masks(onehot, onehot, tuple(keys.shape[1:]))
    memory = EMBases(**settings)
    memory.reset(num_objects)
    shared = keys.flatten(1).expand(num_objects, -1, -1)
    # The value encoder is not part of this module: value bases are not checked here.
    memory.write(0, shared, torch.zeros(num_objects, 512, shared.shape[-1]), soft, hard_masks=hard)
    return memory, data


@pytest.mark.conformance
@pytest.mark.parametrize("case,file", CASES)
def test_seed_zero_draws_the_release_initial_bases(case, file):
    memory, data = frame0_memory(case, file, seed=0)
    assert_draw_equal(memory.initial_keys, torch.from_numpy(data["kappa_init"]))


@pytest.mark.conformance
@pytest.mark.parametrize("case,file", CASES)
def test_frame0_first_bank_matches_the_release(case, file):
    memory, data = frame0_memory(case, file)
    expected = torch.from_numpy(data["kappa_frame0"])
    got = memory.first.keys
    directions = torch.nn.functional.cosine_similarity(got, expected, dim=-2)
    assert directions.min() > 1 - 1e-6
    # the release's own spread across machines (the case README): 1e-3 relative
    assert_bases_close(got, expected)
    torch.testing.assert_close(got.norm(dim=-2), torch.from_numpy(data["kappa_norm"][0]), rtol=1e-3, atol=1e-6)
    torch.testing.assert_close(memory.first.masses, torch.from_numpy(data["zita"][0]), rtol=1e-3, atol=1e-6)
    assert memory.stored_features() == [int(data["mem_size"][0])] * expected.shape[0]
    assert memory.bases_per_group() * 2 == int(data["mem_size"][0])


@pytest.mark.conformance
def test_injected_initial_bases_replace_the_draw():
    data = load_case("swem", "car-shadow-2obj", expected="expected_native.npz")
    keys = torch.from_numpy(data["qk16_frame0"]).flatten(1)
    init = torch.from_numpy(data["kappa_init"])
    ids = torch.from_numpy(data["mask0"].astype(np.int64))
    onehot = torch.stack([ids == j for j in range(3)]).float()
    hard, soft = key_grid_masks(onehot, onehot, tuple(data["qk16_frame0"].shape[1:]))
    memory = EMBases(seed=7)
    memory.reset(2, initial_keys=init)
    memory.write(0, keys.expand(2, -1, -1), torch.zeros(2, 8, keys.shape[1]), soft, hard_masks=hard)
    assert torch.equal(memory.initial_keys, init)
    assert_bases_close(memory.first.keys, torch.from_numpy(data["kappa_frame0"]))
    memory.reset(2, initial_keys=init[:, :, :64])
    with pytest.raises(VosbenchError, match="initial key bases"):
        memory.write(0, keys.expand(2, -1, -1), torch.zeros(2, 8, keys.shape[1]), soft, hard_masks=hard)


# ---------------------------------------------------------------- small synthetic features
def clusters(n_per: int = 40, dim: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two tight clusters along orthogonal axes (norms 3 and 2): features [2n, dim], labels [2n]."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.zeros(2, dim)
    centres[0, 0], centres[1, 1] = 3.0, 2.0
    labels = torch.arange(2).repeat_interleave(n_per)
    return centres[labels] + 0.05 * torch.randn(2 * n_per, dim, generator=g), labels


def test_bases_converge_to_cluster_means():
    x, labels = clusters()
    init = torch.zeros(1, 6, 2)
    init[0, :, 0] = torch.tensor([0.9, 0.3, 0.2, 0.0, 0.1, 0.0])  # leaning towards cluster 0
    init[0, :, 1] = torch.tensor([0.3, 0.9, 0.0, 0.2, 0.0, 0.1])
    init = init / init.norm(dim=1, keepdim=True)
    bases = compress(x, 2, initial_keys=init)
    means = torch.stack([x[labels == c].mean(0) for c in (0, 1)], dim=1)
    torch.testing.assert_close(bases.keys[0, 0], means, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bases.masses[0, 0], torch.full((2,), 40.0), rtol=1e-5, atol=1e-5)


def test_one_base_per_group_is_the_weighted_group_mean():
    x, labels = clusters(seed=3)
    weights = torch.stack([(labels == 0).float() * 0.5, (labels == 1).float()])
    values = torch.randn(x.shape[0], 3, generator=torch.Generator().manual_seed(1))
    bases = compress(x, 1, weights=weights, values=values, adaptive=False, seed=5)
    for group in (0, 1):
        w = weights[group]
        # The fresh base's 1e-6 mass pulls it towards its random start a negligible bit.
        mean_key, mean_value = (w[:, None] * x).sum(0) / w.sum(), (w[:, None] * values).sum(0) / w.sum()
        torch.testing.assert_close(bases.keys[0, group, :, 0], mean_key, atol=1e-5, rtol=0)
        torch.testing.assert_close(bases.values[0, group, :, 0], mean_value, atol=1e-5, rtol=0)


def test_masses_add_up_to_the_weight_total():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(90, 5, generator=g) * 2
    weights = torch.rand(2, 90, generator=g)
    start = draw_keys(torch.Generator().manual_seed(4), (1, 2, 5, 7))
    bases = compress(x, 7, weights=weights, adaptive=False, initial_keys=start)
    torch.testing.assert_close(bases.masses.sum(-1)[0], weights.sum(1) + 7e-6)
    # Mass-weighted key sums are the weighted feature sums (plus the fresh bases' tiny prior).
    sums = (bases.keys[0] * bases.masses[0, :, None, :]).sum(-1)
    torch.testing.assert_close(sums, weights @ x + 1e-6 * start[0].sum(-1), rtol=1e-5, atol=1e-4)


def test_adaptive_weights_change_the_fit_only_after_the_first_iteration():
    x, labels = clusters(n_per=30)
    x = x + 0.8 * torch.randn(x.shape, generator=torch.Generator().manual_seed(9))
    weights = torch.stack([(labels == 0).float(), (labels == 1).float()])
    fit = {a: compress(x, 4, weights=weights, adaptive=a, seed=1) for a in (True, False)}
    assert not torch.allclose(fit[True].keys, fit[False].keys)
    assert fit[True].masses.sum() < fit[False].masses.sum()  # weights shrink to w (1 - pi)
    once = [compress(x, 4, weights=weights, adaptive=a, seed=1, iters=1) for a in (True, False)]
    assert torch.equal(once[0].keys, once[1].keys)


def test_compress_rejects_bad_settings():
    x = torch.randn(10, 4)
    with pytest.raises(VosbenchError, match="two groups"):
        compress(x, 3, adaptive=True)
    with pytest.raises(VosbenchError, match="tau"):
        compress(x, 3, tau=0.0)
    with pytest.raises(ValueError, match=r"\[N, C\]"):
        compress(x[None], 3)


def frames(num_frames: int, num_objects: int, dim: int = 8, value_dim: int = 5, n: int = 60, seed: int = 0):
    """Random keys [O, Ck, N], values [O, Cv, N] and soft masks [O, N] per frame."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num_frames):
        keys = torch.randn(dim, n, generator=g).expand(num_objects, -1, -1)
        values = torch.randn(num_objects, value_dim, n, generator=g)
        prob = torch.softmax(3 * torch.randn(num_objects + 1, n, generator=g), dim=0)
        out.append((keys, values, prob[1:]))
    return out


def test_first_bank_freezes_and_update_bank_accumulates():
    memory = EMBases(num_bases=6, adaptive=False)
    memory.reset(2)
    data = frames(4, 2)
    assert [memory.wants(i, i == 3) for i in range(4)] == [True, True, True, False]
    total = torch.zeros(2, 2)
    sizes, totals = [], []
    for index, (keys, values, soft) in enumerate(data[:3]):
        memory.write(index, keys, values, soft)
        hard = (torch.cat((1 - soft.sum(0, keepdim=True), soft)).argmax(0) == torch.arange(1, 3)[:, None]).float()
        total += memorisation_weights(hard, soft).sum(-1)
        totals.append(total.clone())
        if index == 0:
            first = memory.first
        sizes.append((memory.bases_per_group(), memory.stored_features()))
    assert memory.first is first  # frozen after frame 0
    torch.testing.assert_close(memory.first.masses.sum(-1), totals[0] + 6e-6, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(memory.update.masses.sum(-1), total + 6e-6, rtol=1e-5, atol=1e-5)
    assert sizes == [(6, [12, 12]), (12, [24, 24]), (12, [24, 24])]
    per_base = 2 * (8 + 5 + 1) * 4  # keys, values and mass per base and object, float32
    assert memory.nbytes() == 2 * 2 * 6 * per_base


def test_default_hard_mask_is_the_argmax_of_background_and_objects():
    keys, values, soft = frames(1, 2)[0]
    hard = torch.cat((1 - soft.sum(0, keepdim=True), soft)).argmax(0)
    hard = torch.stack([hard == 1, hard == 2]).float()
    a, b = EMBases(num_bases=4), EMBases(num_bases=4)
    a.reset(2)
    b.reset(2)
    a.write(0, keys, values, soft)
    b.write(0, keys, values, soft, hard_masks=hard)
    assert torch.equal(a.first.keys, b.first.keys)
    b.reset(2)
    b.write(0, keys, values, soft, hard_masks=torch.ones_like(hard))
    assert not torch.equal(a.first.keys, b.first.keys)


def test_read_softmax_and_top_l_feature_against_a_float64_reference():
    g = torch.Generator().manual_seed(11)
    query = torch.randn(1, 8, 50, generator=g)
    keys = torch.randn(2, 2, 8, 10, generator=g)
    values = torch.randn(2, 2, 5, 10, generator=g)
    readout, feature = match(query, keys, values, tau=0.1, top_l=4)
    assert readout.shape == (2, 5, 50) and feature.shape == (2, 8, 50)

    q = query.double() / (query.double().norm(dim=1, keepdim=True) + 1e-6)
    k = keys.double() / (keys.double().norm(dim=2, keepdim=True) + 1e-6)
    logits = torch.einsum("ogcl,cn->ognl", k, q[0]) / 0.1
    share = torch.softmax(logits.permute(0, 2, 1, 3).flatten(2), dim=-1)  # O, N, 2L (groups in order)
    expected = torch.einsum("ocl,onl->ocn", values.double().transpose(1, 2).flatten(2), share)
    torch.testing.assert_close(readout.double(), expected, rtol=1e-5, atol=1e-6)
    energy = torch.exp(logits - logits.amax(dim=(1, 3), keepdim=True))
    top = energy.sort(dim=-1, descending=True).values[..., :4]
    running = np.cumsum(top.numpy(), axis=-1)
    ratio = running[:, 0] / (running[:, 0] + running[:, 1])  # O, N, 4
    np.testing.assert_allclose(feature[:, :4].numpy(), ratio.transpose(0, 2, 1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(feature[:, 4:], 1 - feature[:, :4])
    # f_1 compares the two best bases, one of which is exp(0) = 1 after the max shift.
    assert torch.allclose(torch.maximum(top[:, 0, :, 0], top[:, 1, :, 0]), torch.ones(2, 50, dtype=torch.float64))


def test_full_top_l_feature_ends_at_the_background_share_of_the_readout():
    g = torch.Generator().manual_seed(12)
    keys = torch.randn(1, 2, 8, 6, generator=g)
    values = torch.zeros(1, 2, 2, 6)
    values[:, 0, 0], values[:, 1, 1] = 1.0, 1.0  # value channel c marks group c
    readout, feature = match(torch.randn(1, 8, 30, generator=g), keys, values, tau=0.2, top_l=6)
    torch.testing.assert_close(readout.sum(1), torch.ones(1, 30))  # shares sum to 1
    torch.testing.assert_close(feature[:, 5], readout[:, 0], rtol=1e-5, atol=1e-6)


def test_entry_feature_over_labelled_entries_is_the_bases_feature():
    # entries labelled 0/1 are SWEM's two groups: the same feature, whatever their order
    g = torch.Generator().manual_seed(13)
    query = torch.randn(8, 40, generator=g)
    keys = torch.randn(2, 8, 10, generator=g)  # background, foreground bases
    _, expected = match(query[None], keys[None], torch.zeros(1, 2, 1, 10), tau=0.1, top_l=4)
    order = torch.randperm(20, generator=g)
    entries = torch.cat((keys[0], keys[1]), dim=1)[:, order]
    foreground = torch.cat((torch.zeros(10), torch.ones(10)))[order]
    feature = entry_feature(query, entries, torch.stack((foreground, 1 - foreground)), tau=0.1, top_l=4, block=7)
    torch.testing.assert_close(feature[0], expected[0], rtol=1e-5, atol=1e-6)
    # a second object with the groups the other way round
    _, other = match(query[None], keys.flip(0)[None], torch.zeros(1, 2, 1, 10), tau=0.1, top_l=4)
    torch.testing.assert_close(feature[1], other[0], rtol=1e-5, atol=1e-6)


def test_entry_feature_with_soft_shares_and_fewer_entries_than_top_l():
    g = torch.Generator().manual_seed(14)
    query, entries = torch.randn(8, 12, generator=g), torch.randn(8, 3, generator=g)
    share = torch.tensor([[0.25, 1.0, 0.0]])
    feature = entry_feature(query, entries, share, tau=0.2, top_l=5)
    assert feature.shape == (1, 10, 12)
    q = query.double() / (query.double().norm(dim=0) + 1e-6)
    k = entries.double() / (entries.double().norm(dim=0) + 1e-6)
    energy = torch.exp((k.T @ q - (k.T @ q).amax(dim=0)) / 0.2)  # 3, N
    fg, bg = (share.double().T * energy), ((1 - share.double()).T * energy)
    best = [group.sort(dim=0, descending=True).values.cumsum(dim=0) for group in (bg, fg)]
    ratio = best[0] / (best[0] + best[1])  # 3, N; beyond three entries the sums stay
    expected = torch.cat((ratio, ratio[-1:].expand(2, -1)))
    torch.testing.assert_close(feature[0, :5].double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(feature[0, 5:], 1 - feature[0, :5])


def test_two_banks_sizes_and_readout_shapes():
    memory = EMBases(num_bases=128, top_l=64)
    memory.reset(1)
    with pytest.raises(RuntimeError, match="before any write"):
        memory.read(torch.randn(16, 40))
    used = []
    for index, (keys, values, soft) in enumerate(frames(4, 1, dim=16, value_dim=12, n=40)):
        used.append(memory.bases_per_group())
        readout = memory.read(keys[0]) if index else None
        if readout is not None:
            assert readout.values.shape == (1, 12, 40)
            assert readout.extras["pi_feature"].shape == (1, 128, 40)
        memory.write(index, keys, values, soft)
    assert used == [0, 128, 256, 256]  # mem_used_per_group of the release
    assert memory.stored_features() == [512]


def test_late_object_gets_its_own_bases_at_its_first_written_frame():
    data = frames(4, 2, seed=4)
    memory = EMBases(num_bases=5)
    memory.reset(1)
    keys, values, soft = data[0]
    memory.write(0, keys[:1], values[:1], soft[:1])
    memory.add_objects(1)
    assert memory.stored_features() == [10, 0]
    readout = memory.read(keys[0])
    assert readout.values.shape == (2, 5, 60) and readout.extras["pi_feature"].shape == (2, 10, 60)
    assert not readout.values[1].any() and not readout.extras["pi_feature"][1].any()
    first_of_object1 = memory.first.objects(0, 1)

    keys, values, soft = data[1]
    memory.write(1, keys, values, soft)
    assert memory.stored_features() == [20, 20]
    assert torch.equal(memory.first.objects(0, 1).keys, first_of_object1.keys)
    assert torch.equal(memory.first.keys[1], memory.update.keys[1])
    # Object 2's start is the generator's next draw, not a copy of object 1's.
    g = torch.Generator().manual_seed(0)
    draws = [draw_keys(g, (1, 2, 8, 5)) for _ in range(2)]
    assert torch.equal(memory.initial_keys, torch.cat(draws))

    keys, values, soft = data[2]
    memory.write(2, keys, values, soft)
    assert not torch.equal(memory.first.keys[1], memory.update.keys[1])
    read = memory.read(keys[0])
    assert read.values[1].abs().sum() > 0
    feature = read.extras["pi_feature"]
    assert ((feature >= 0) & (feature <= 1)).all()


def test_same_seed_same_memory_and_seeds_differ():
    keys, values, soft = frames(1, 1)[0]
    runs = []
    for seed in (0, 0, 1):
        memory = EMBases(num_bases=8, seed=seed)
        memory.reset(1)
        memory.write(0, keys, values, soft)
        runs.append(memory.first.keys)
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_bfloat16_autocast_runs_in_float32():
    keys, values, soft = frames(1, 2)[0]
    reference = EMBases(num_bases=8)
    reference.reset(2)
    reference.write(0, keys, values, soft)
    memory = EMBases(num_bases=8)
    memory.reset(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        memory.write(0, keys, values, soft)
        readout = memory.read(keys[0].bfloat16())
    assert torch.equal(memory.first.keys, reference.first.keys)
    assert readout.values.dtype == torch.float32 and torch.isfinite(readout.values).all()


def test_key_grid_masks_follow_the_release_resizes():
    # Hard: argmax at full size (ties to background), nearest source index floor(dst * in / out).
    prob = torch.zeros(3, 7, 11)
    prob[0] = 0.5
    prob[1, :, :5] = 0.5  # tie with background: background wins
    prob[1, 3:, :5] = 0.6
    prob[2, :, 5:] = 0.9
    hard, soft = key_grid_masks(prob, prob, (3, 4))
    rows = [math.floor(i * 7 / 3) for i in range(3)]
    cols = [math.floor(j * 11 / 4) for j in range(4)]
    labels = prob.argmax(0)[rows][:, cols]
    assert torch.equal(hard.view(2, 3, 4), torch.stack([labels == 1, labels == 2]).float())
    # Soft: bilinear, align_corners=False: a horizontal ramp is sampled at (j + 0.5) * in / out - 0.5.
    ramp = torch.arange(16.0).expand(2, 5, 16)
    _, soft = key_grid_masks(ramp, ramp, (2, 4))
    expected = torch.tensor([max(0.0, (j + 0.5) * 4 - 0.5) for j in range(4)])
    torch.testing.assert_close(soft.view(1, 2, 4), expected.expand(1, 2, 4))


def test_memorisation_weights_count_other_objects_as_background():
    hard = torch.tensor([[1.0, 0.0, 0.0]])
    soft = torch.tensor([[0.8, 0.3, 0.0]])
    weights = memorisation_weights(hard, soft)
    torch.testing.assert_close(weights, torch.tensor([[[0.0, 0.7, 1.0], [0.8, 0.0, 0.0]]]))


def test_bad_settings_and_shapes():
    with pytest.raises(VosbenchError, match="tau"):
        EMBases(tau=-1)
    with pytest.raises(VosbenchError, match="at least 1"):
        EMBases(num_bases=0)
    memory = EMBases(num_bases=4)
    memory.reset(2)
    keys, values, soft = frames(1, 2)[0]
    with pytest.raises(ValueError, match="write expects"):
        memory.write(0, keys, values[:1], soft)
