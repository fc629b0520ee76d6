"""The inference speed-ups compute what the network computes: folded BatchNorms, NNPACK
convolutions and oneDNN matrix products against the plain modules and torch's attention."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from methods.backbones.resnet import ResNet
from methods.fast_inference import (
    NNPACKConv2d, OneDNNLinear, attention, for_inference, nnpack_eligible, nnpack_ready, onednn_linears, onednn_ready, use_nnpack,
)


def trained_like(network: nn.Module) -> nn.Module:
    """Random BatchNorm statistics and affine terms, so that folding has work to do."""
    generator = torch.Generator().manual_seed(0)
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            for tensor, low, high in ((module.running_mean, -0.5, 0.5), (module.running_var, 0.5, 1.5),
                                      (module.weight.data, 0.5, 1.5), (module.bias.data, -0.2, 0.2)):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)
    return network.eval()


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_folded_batchnorm_computes_the_same_features(arch):
    plain = trained_like(ResNet(arch, ("layer1", "layer2"), in_channels=5, bias=arch == "resnet18"))
    folded = copy.deepcopy(plain)
    folded.fold_batchnorm()
    folded.fold_batchnorm()  # a second fold changes nothing
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 5, 64, 96)
    with torch.inference_mode():
        for a, b in zip(plain(x), folded(x)):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5 * a.abs().max().item())


@pytest.mark.skipif(not nnpack_ready(), reason="this torch has no NNPACK")
@pytest.mark.parametrize("cin, cout, kernel, bias", [(64, 32, 3, True), (2, 1, 7, False), (16, 8, 3, False)])
def test_nnpack_convolution_matches_onednn(cin, cout, kernel, bias):
    conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=bias).eval()
    reference = copy.deepcopy(conv)
    assert use_nnpack(conv) == 1 and type(conv) is NNPACKConv2d
    x = torch.randn(3, cin, 37, 50)
    with torch.inference_mode():
        expected = reference(x)
        got = conv(x)
        assert torch.allclose(got, expected, rtol=0, atol=1e-4 * expected.abs().max().item())
        # a non-contiguous input (a channels-last view) is accepted too
        torch.testing.assert_close(conv(x.contiguous(memory_format=torch.channels_last)), got)
    # outside float32 inference: the ordinary path (autocast's dtype, gradients)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv(x).dtype == torch.bfloat16
    conv.requires_grad_(True)
    conv(x).sum().backward()
    assert conv.weight.grad is not None


def test_only_stride_one_odd_kernels_are_switched():
    assert nnpack_eligible(nn.Conv2d(4, 4, 3, padding=1))
    assert nnpack_eligible(nn.Conv2d(4, 4, 7, padding=3))
    assert not nnpack_eligible(nn.Conv2d(4, 4, 3, padding=1, stride=2))
    assert not nnpack_eligible(nn.Conv2d(4, 4, 3, padding=2, dilation=2))
    assert not nnpack_eligible(nn.Conv2d(4, 4, 1))
    assert not nnpack_eligible(nn.Conv2d(4, 4, 3, padding=0))
    assert not nnpack_eligible(nn.Conv2d(4, 4, 3, padding=1, groups=2))


def test_for_inference_keeps_the_official_arithmetic_when_asked():
    network = trained_like(nn.Sequential(ResNet("resnet18", ("layer1",)), nn.Conv2d(64, 8, 3, padding=1)))
    plain = for_inference(copy.deepcopy(network), torch.device("cpu"), fast_conv=False)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in plain.modules()) == sum(
        isinstance(m, nn.BatchNorm2d) for m in network.modules())
    assert not any(type(m) is NNPACKConv2d for m in plain.modules())
    fast = for_inference(copy.deepcopy(network), torch.device("cpu"))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    # the trunk stays on oneDNN, channels-last; the convolution after it goes to NNPACK
    assert fast[0].channels_last and not any(type(m) is NNPACKConv2d for m in fast[0].modules())
    assert fast[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert (type(fast[1]) is NNPACKConv2d) == nnpack_ready()
    assert not any(p.requires_grad for p in fast.parameters())
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        expected = plain[1](plain[0](x)[-1])
        got = fast[1](fast[0](x)[-1])
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4 * expected.abs().max().item())


def test_onednn_linears_compute_what_the_layers_compute():
    network = nn.Sequential(nn.Linear(96, 384), nn.GELU(), nn.Linear(384, 96, bias=False)).eval()
    plain = copy.deepcopy(network)
    assert onednn_linears(network) == 2 and all(type(m) is OneDNNLinear for m in network if not isinstance(m, nn.GELU))
    assert list(network.state_dict()) == list(plain.state_dict())
    x = torch.randn(2, 16, 16, 96)
    with torch.inference_mode():
        torch.testing.assert_close(network(x), plain(x), rtol=1e-5, atol=1e-5)
    # training keeps torch's path (oneDNN's op has no gradient here)
    network(x).sum().backward()
    assert network[0].weight.grad is not None


@pytest.mark.parametrize("width", [48, 16], ids=["values-as-wide", "values-narrower"])
def test_blocked_attention_is_softmax_attention(width):
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 3, 300, 48, generator=generator), torch.randn(2, 3, 700, 48, generator=generator)
    v = torch.randn(2, 3, 700, width, generator=generator)
    expected = torch.softmax(q @ k.transpose(-1, -2) / 48**0.5, dim=-1) @ v
    with torch.inference_mode():
        got = attention(q, k, v, block=128)  # 300 queries: two whole blocks and a part
    assert onednn_ready()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
