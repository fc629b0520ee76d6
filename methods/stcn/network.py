"""STCN's evaluation network (Cheng et al., NeurIPS 2021), with the official
state-dict names, and the loader for its official checkpoint.

A frame's key features are computed once and shared by all objects; values are
encoded per object from the frame, its soft mask and the sum of the other objects'
masks; the decoder takes concat(readout, query value) per object.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from methods.checkpoint import load_checkpoint, load_state
from methods.stm_parts import Decoder, FrameFeatures, KeyEncoder, KeyProjection, ValueEncoder, other_objects, widen_value_conv1

KEY_DIM = 64
VALUE_DIM = 512


class STCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.key_encoder = KeyEncoder()
        self.value_encoder = ValueEncoder()
        self.key_proj = KeyProjection(1024, KEY_DIM)
        self.key_comp = nn.Conv2d(1024, VALUE_DIM, 3, padding=1)
        self.decoder = Decoder(2 * VALUE_DIM)

    def encode_key(self, image: torch.Tensor) -> FrameFeatures:
        """image: normalised, padded [1, 3, H, W]."""
        f16, f8, f4 = self.key_encoder(image)
        return FrameFeatures(self.key_proj(f16), self.key_comp(f16), f16, f8, f4)

    def encode_value(self, image: torch.Tensor, f16: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Soft masks [K, H, W] of the frame -> values [K, 512, h, w]."""
        return self.value_encoder(image, f16, masks, other_objects(masks))

    def segment(self, readout: torch.Tensor, features: FrameFeatures, out_size: tuple[int, int]) -> torch.Tensor:
        """Memory readout [K, 512, h, w] -> object probabilities [K, *out_size] (sigmoid)."""
        query = features.value.expand(readout.shape[0], -1, -1, -1).to(readout.dtype)
        logits = self.decoder(torch.cat([readout, query], dim=1), features.f8, features.f4, out_size)
        return torch.sigmoid(logits)


def load_stcn(path: str | os.PathLike) -> STCN:
    """The network from an official STCN checkpoint (a flat state dict), in eval mode."""
    state = widen_value_conv1(load_checkpoint(path))
    network = STCN()
    load_state(network, state, path)
    return network.eval()
