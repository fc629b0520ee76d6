"""SWEM's network (everything but its EM memory), with the official state-dict names,
and the loader for its official checkpoint.

The encoders normalise inside (they hold ImageNet ``mean`` / ``std`` buffers) and take
[0, 1] images; the official DAVIS evaluator resizes every frame to 480x864 (bicubic,
no clamping) first. There is no padding. The memory (sequential weighted EM bases)
lives in ``methods/memory/em_bases.py``; the one learned part of the official
``SWEMCore``, the GLU fusion of readout, query value and permutation-invariant
feature, is here as ``swem_core.fusion_layer``.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from methods.checkpoint import load_checkpoint, load_state
from methods.frames import resize, to_tensor
from methods.stm_parts import Decoder, FrameFeatures, KeyEncoder, KeyProjection, ValueEncoder, widen_value_conv1

KEY_DIM = 128
VALUE_DIM = 512
TOP_L = 64  # bases per group in the permutation-invariant feature; fixed by the fusion weights
EVAL_SIZE = (480, 864)  # the official DAVIS evaluator's network input (height, width)


class GatedFusion(nn.Module):
    """GLU: layer_f(x) * sigmoid(layer_a(x)), both 3x3 convolutions."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.layer_f = nn.Conv2d(cin, cout, 3, padding=1)
        self.layer_a = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer_f(x) * torch.sigmoid(self.layer_a(x))


class SwemCore(nn.Module):
    """The learned part of the official SWEMCore (kept under its name for the weights)."""

    def __init__(self, top_l: int = TOP_L):
        super().__init__()
        self.fusion_layer = GatedFusion(2 * VALUE_DIM + 2 * top_l, VALUE_DIM)


class SWEM(nn.Module):
    def __init__(self):
        super().__init__()
        self.key_encoder = KeyEncoder(normalise=True)
        self.value_encoder = ValueEncoder(normalise=True)
        self.key_proj = KeyProjection(1024, KEY_DIM)
        self.key_comp = nn.Conv2d(1024, VALUE_DIM, 3, padding=1)
        self.swem_core = SwemCore()
        self.decoder = Decoder(VALUE_DIM)

    def encode_key(self, image: torch.Tensor) -> FrameFeatures:
        """image: [1, 3, h, w] in [0, 1] (not normalised) -> key qk (raw, 128 ch), qv, f16, f8, f4."""
        f16, f8, f4 = self.key_encoder(image)
        return FrameFeatures(self.key_proj(f16), self.key_comp(f16), f16, f8, f4)

    def encode_value(self, image: torch.Tensor, f16: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """probs [K + 1, h, w], background first, at the image size (frame 0: the one-hot
        given mask, nearest-resized; later: the soft output, bilinear-resized) ->
        values [K, 512, h16, w16]. The "others" map of object j is 1 - m_j - m_0."""
        masks = probs[1:]
        others = 1 - masks - probs[:1]
        return self.value_encoder(image, f16, masks, others)

    def segment(
        self,
        readout: torch.Tensor,
        features: FrameFeatures,
        perm_inv: torch.Tensor,
        out_size: tuple[int, int],
    ) -> torch.Tensor:
        """The decoder entry, per object -> probabilities [K, *out_size] (sigmoid).

        readout: [K, 512, h16, w16], the memory readout r = sum nu P per object.
        features: the query frame's ``encode_key`` output (``value`` = qv, f8, f4 are
            batch 1 and broadcast over the objects).
        perm_inv: [K, 2 * TOP_L, h16, w16], the permutation-invariant feature S
            ([f_1..f_64, 1 - f_1..1 - f_64], background block first).
        out_size: the frame's own (H, W): the logit is upsampled straight to it.
        """
        k = readout.shape[0]
        x = torch.cat([readout, features.value.expand(k, -1, -1, -1).to(readout.dtype), perm_inv.to(readout.dtype)], dim=1)
        context = self.swem_core.fusion_layer(x)
        return torch.sigmoid(self.decoder(context, features.f8, features.f4, out_size))


def swem_input(frame: np.ndarray, size: tuple[int, int] | None = EVAL_SIZE, device: torch.device | str = "cpu") -> torch.Tensor:
    """RGB uint8 frame -> the network input [1, 3, h, w]: /255, then bicubic to ``size``
    (None: the frame's own size). Values may leave [0, 1]; the official code does not clamp."""
    image = to_tensor(frame, device)
    return image if size is None else resize(image, size, "bicubic")


def load_swem(path: str | os.PathLike) -> SWEM:
    """The network from an official SWEM checkpoint (a flat state dict), in eval mode.

    A single-object checkpoint (4-channel value-encoder conv1) gets a zero "others"
    channel; the official loader appends a random orthogonal one instead, which makes
    its output depend on the random state. Zeros make that channel inert, deterministically.
    """
    state = widen_value_conv1(load_checkpoint(path))
    network = SWEM()
    load_state(network, state, path)
    return network.eval()
