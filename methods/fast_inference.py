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
from torch.utils._python_dispatch import _get_current_dispatch_mode

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


# --- oneDNN matrix products ------------------------------------------------------------
# On this project's AMD EPYC (AVX-512) torch's float32 matmul goes to MKL, whose kernels
# there reach about half of oneDNN's: 43 against 91 GFLOP/s on an attention's 256-wide
# query-key product, 1.15-1.4x on transformer layers (one thread). Same sums, another order.


@functools.cache
def onednn_ready() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _onednn_applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    # under a dispatch mode (torch's FlopCounterMode in bench/run.py), torch's own ops,
    # which it counts
    return (
        x.device.type == "cpu"
        and x.dtype == weight.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
        and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
        and _get_current_dispatch_mode() is None
        and onednn_ready()
    )


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x W^T + b (``F.linear``), through oneDNN's matmul in CPU float32 inference."""
    if _onednn_applies(x, weight):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return torch.nn.functional.linear(x, weight, bias)


class OneDNNLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


def onednn_linears(network: nn.Module) -> int:
    """Route the network's ``nn.Linear`` layers through ``linear``, in place (parameters
    and names stay). Returns how many were switched."""
    switched = 0
    for module in network.modules():
        if type(module) is nn.Linear:
            module.__class__ = OneDNNLinear
            switched += 1
    return switched


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block: int = 128) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v for [B, H, N, d], [B, H, M, d], [B, H, M, c] -> [B, H, N, c]
    (c may differ from d, which torch's fused kernel refuses), a block of queries at a
    time so the weights stay in cache (128 x M: 1.3-1.5x faster than 512 at M = 16,400-28,700), the
    products through ``linear``. Where oneDNN does not apply: torch's fused kernel."""
    if not _onednn_applies(q, k) or v.dtype != q.dtype:
        if v.shape[-1] == q.shape[-1]:
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)
        weights = torch.matmul(q, k.transpose(-1, -2) * q.shape[-1] ** -0.5).softmax(dim=-1)
        return torch.matmul(weights, v)
    b, h, n, _ = q.shape
    out = q.new_empty(b, h, n, v.shape[-1])
    for i in range(b):
        for j in range(h):
            queries = q[i, j] * q.shape[-1] ** -0.5  # scaled here: fewer than the keys
            keys = k[i, j].contiguous()
            values = v[i, j].transpose(0, 1).contiguous()
            for start in range(0, n, block):
                weights = linear(queries[start : start + block], keys)
                torch.softmax(weights, dim=-1, out=weights)
                out[i, j, start : start + block] = linear(weights, values)
    return out
