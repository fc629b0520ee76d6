"""Shared STM-family parts: soft aggregation and checkpoint widening."""

from __future__ import annotations

import torch

from methods.stm_parts import ResBlock, aggregate, widen_value_conv1


def test_aggregate_sums_to_one_background_first():
    p = torch.rand(3, 5, 7, generator=torch.Generator().manual_seed(0))
    prob = aggregate(p)
    assert prob.shape == (4, 5, 7)
    torch.testing.assert_close(prob.sum(0), torch.ones(5, 7))
    # odds logits: softmax of ln(e / (1 - e)) gives odds normalised to 1
    e = torch.cat([torch.prod(1 - p, 0, keepdim=True), p])
    odds = e / (1 - e)
    torch.testing.assert_close(prob, odds / odds.sum(0))


def test_aggregate_one_object_sharpens():
    p = torch.tensor([[0.2, 0.5, 0.9]])
    expected = p**2 / (p**2 + (1 - p) ** 2)
    torch.testing.assert_close(aggregate(p)[1], expected[0])


def test_aggregate_of_a_one_hot_is_clamped_not_exact():
    one_hot = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(2, 1, 2)
    prob = aggregate(one_hot)
    assert torch.all(prob.argmax(0) == torch.tensor([[1, 2]]))
    assert 0 < prob[0].max() < 1e-13  # the official frame-0 "mask" is 1 and ~1.2e-14


def test_resblock_skip_is_x_not_relu_x():
    block = ResBlock(4, 4)
    for conv in (block.conv1, block.conv2):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    x = -torch.ones(1, 4, 3, 3)
    torch.testing.assert_close(block(x), x)


def test_widen_value_conv1_appends_a_zero_channel_with_or_without_prefix():
    w = torch.randn(64, 4, 7, 7)
    for name in ("value_encoder.conv1.weight", "module.value_encoder.conv1.weight"):
        out = widen_value_conv1({name: w, "other": torch.ones(1)})
        assert out[name].shape == (64, 5, 7, 7)
        torch.testing.assert_close(out[name][:, :4], w)
        assert torch.all(out[name][:, 4] == 0) and torch.all(out["other"] == 1)
    five = torch.randn(64, 5, 7, 7)
    assert widen_value_conv1({"value_encoder.conv1.weight": five})["value_encoder.conv1.weight"] is five
    assert widen_value_conv1({"key_encoder.conv1.weight": w})["key_encoder.conv1.weight"] is w
