"""A loaded network made fast for inference without changing what it computes.

With ``fast_conv`` (the default):

- BatchNorms are folded into the convolutions before them: one pass over each output
  instead of two.
- On the CPU, ResNet trunks keep channels-last weights and activations, where oneDNN
  runs them about 1.3x faster than in NCHW and faster than NNPACK would.
- On the CPU in float32, the other 3x3 and 7x7 stride-1 convolutions run through
  NNPACK, which torch ships: its Winograd F(6x6, 3x3) does about 4x fewer
  multiplications than oneDNN's direct convolution, and was 1.4-2.8x faster on the STM
  decoders' layers (bench/NOTES.md). Anything else (CUDA, autocast, gradients, other
  shapes) takes the ordinary path.

All of it is the same arithmetic in another order: outputs move by about 1e-5 of a layer's
largest value, and the conformance cases pass. ``fast_conv=False`` keeps the official
code's arithmetic (separate BatchNorm, oneDNN everywhere), which matches the official
internal state to float noise.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from methods.backbones.resnet import ResNet
from vosbench.errors import VosbenchError
from vosbench.registry import Param

FAST_CONV = Param(
    "fast_conv",
    True,
    "CPU float32 with weights: BatchNorm folded, 3x3/7x7 stride-1 convolutions by NNPACK's Winograd "
    "(equal to ~1e-5); false: the official arithmetic",
)

NNPACK_KERNELS = ((3, 3), (7, 7))


def fast_conv_setting(config: dict, method: str) -> bool:
    value = config[FAST_CONV.name]
    if not isinstance(value, bool):
        raise VosbenchError(f"{method}: parameter fast_conv must be true or false, got {value!r}")
    return value


@functools.cache
def nnpack_ready() -> bool:
    """NNPACK is built into this torch and initialised (the availability query does the
    initialisation: a convolution before it fails)."""
    return bool(torch._nnpack_available())


class NNPACKConv2d(nn.Conv2d):
    """A stride-1 convolution that takes NNPACK in CPU float32 inference."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.device.type == "cpu"
            and x.dtype == torch.float32
            and x.dim() == 4
            and not torch.is_autocast_enabled("cpu")
            and not (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad))
        ):
            return torch._nnpack_spatial_convolution(x.contiguous(), self.weight, self.bias, self.padding, self.stride)
        return super().forward(x)


def nnpack_eligible(conv: nn.Module) -> bool:
    return (
        type(conv) is nn.Conv2d
        and conv.kernel_size in NNPACK_KERNELS
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and conv.padding == (conv.kernel_size[0] // 2, conv.kernel_size[1] // 2)
    )


def use_nnpack(network: nn.Module, keep: set[int] = frozenset()) -> int:
    """Route the network's eligible convolutions (except the modules whose ids are in
    ``keep``) through NNPACK, in place: parameters and their names stay. Returns how
    many were switched."""
    if not nnpack_ready():
        return 0
    switched = 0
    for module in network.modules():
        if nnpack_eligible(module) and id(module) not in keep:
            module.__class__ = NNPACKConv2d
            switched += 1
    return switched


def for_inference(network: nn.Module, device: torch.device, fast_conv: bool = True) -> nn.Module:
    """The network on ``device`` in eval mode without gradients. With ``fast_conv``:
    BatchNorms folded; on the CPU, ResNet trunks channels-last on oneDNN (faster there
    than NNPACK, measured) and every other eligible convolution on NNPACK. Changes
    ``network`` in place."""
    network = network.to(device).eval().requires_grad_(False)
    if not fast_conv:
        return network
    trunks = [module for module in network.modules() if isinstance(module, ResNet)]
    for trunk in trunks:
        trunk.fold_batchnorm()
    if device.type == "cpu":
        for trunk in trunks:
            trunk.use_channels_last()
        use_nnpack(network, keep={id(m) for trunk in trunks for m in trunk.modules()})
    return network
