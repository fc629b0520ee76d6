"""XMem's evaluation network (Cheng and Schwing, ECCV 2022), with the official state-dict
names, and the loader for its official checkpoint.

Same family as STCN (ResNet-50 key encoder, ResNet-18 value encoder, CBAM fusion,
skip-upsampling decoder), plus: a key projection that also gives the shrinkage and
selection terms of XMem's similarity, and a sensory memory: a hidden state per object,
updated by the decoder on ordinary frames and "deep updated" by the value encoder on
memorised ones, with the same gate (not a textbook GRU: the old state is multiplied by
both the forget gate and 1 - the update gate).

Dimensions come from the checkpoint, as the official code reads them: key dim = rows of
``key_proj.key_proj.weight``, value dim = rows of ``value_encoder.fuser.block2.conv2.weight``,
hidden dim = rows of ``decoder.hidden_update.transform.weight`` / 3 (no sensory memory
when that entry is absent).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from methods.checkpoint import load_checkpoint, load_state
from methods.stm_parts import (
    FeatureFusionBlock,
    KeyEncoder,
    KeyProjection,
    UpsampleBlock,
    ValueEncoder,
    other_objects,
    widen_value_conv1,
)
from vosbench.errors import VosbenchError

KEY_ENTRY = "key_proj.key_proj.weight"
VALUE_ENTRY = "value_encoder.fuser.block2.conv2.weight"
HIDDEN_ENTRY = "decoder.hidden_update.transform.weight"


class XMemFeatures(NamedTuple):
    """A query frame's features (batch 1): key terms at stride 16, trunk features."""

    key: torch.Tensor  # [1, Ck, h, w]
    shrinkage: torch.Tensor  # [1, 1, h, w], >= 1
    selection: torch.Tensor  # [1, Ck, h, w], in (0, 1)
    f16: torch.Tensor  # [1, 1024, h, w]
    f8: torch.Tensor
    f4: torch.Tensor


class HiddenGate(nn.Module):
    """h' = f * h * (1 - z) + z * n from u = transform([x, h]) (3x3), f, z = sigmoid,
    n = tanh of u's three thirds. The value encoder's ``hidden_reinforce``."""

    def __init__(self, cin: int, hidden_dim: int):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.transform = nn.Conv2d(cin + hidden_dim, 3 * hidden_dim, 3, padding=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        u = self.transform(torch.cat([x, h.to(x.dtype)], dim=1))
        forget, update, new = torch.split(u, self.hidden_dim, dim=1)
        update = torch.sigmoid(update)
        return torch.sigmoid(forget) * h * (1 - update) + update * torch.tanh(new)


class HiddenUpdater(HiddenGate):
    """The decoder's ``hidden_update``: the gate on the sum of 1x1 projections (to
    ``mid`` channels) of the decoder's features at 1/16, 1/8 and 1/4 (with the logit),
    area-averaged to 1/16. ``dims`` are XMem's; Cutie's ``sensory_update`` is the same
    with its decoder's widths."""

    def __init__(self, hidden_dim: int, dims: tuple[int, int, int] = (512, 256, 257), mid: int = 256):
        super().__init__(mid, hidden_dim)
        self.g16_conv = nn.Conv2d(dims[0], mid, 1)
        self.g8_conv = nn.Conv2d(dims[1], mid, 1)
        self.g4_conv = nn.Conv2d(dims[2], mid, 1)

    def forward(self, g16: torch.Tensor, g8: torch.Tensor, g4: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        grid = g16.shape[-2:]
        x = self.g16_conv(g16) + self.g8_conv(F.adaptive_avg_pool2d(g8, grid)) + self.g4_conv(F.adaptive_avg_pool2d(g4, grid))
        return super().forward(x, h)


class XMemDecoder(nn.Module):
    def __init__(self, value_dim: int, hidden_dim: int):
        super().__init__()
        self.fuser = FeatureFusionBlock(1024 + value_dim + hidden_dim, 512, key_first=True)
        self.hidden_update = HiddenUpdater(hidden_dim) if hidden_dim else None
        self.up_16_8 = UpsampleBlock(512, 512, 256)
        self.up_8_4 = UpsampleBlock(256, 256, 256)
        self.pred = nn.Conv2d(256, 1, 3, padding=1)

    def forward(
        self, readout: torch.Tensor, hidden: torch.Tensor | None, features: XMemFeatures, update: bool, out_size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """readout [K, Cv, h, w], hidden [K, Ch, h, w] or None -> (logits [K, *out_size],
        the updated hidden state, or None when ``update`` is off or there is none)."""
        k = readout.shape[0]
        x = readout if hidden is None else torch.cat([readout, hidden.to(readout.dtype)], dim=1)
        g16 = self.fuser(x, features.f16.expand(k, -1, -1, -1))
        g8 = self.up_16_8(features.f8, g16)
        g4 = self.up_8_4(features.f4, g8)
        logit = self.pred(F.relu(g4))
        new_hidden = None
        if update and self.hidden_update is not None:
            new_hidden = self.hidden_update(g16, g8, torch.cat([g4, logit], dim=1), hidden)
        return F.interpolate(logit, size=out_size, mode="bilinear", align_corners=False)[:, 0], new_hidden


class XMemValueEncoder(ValueEncoder):
    """STCN's value encoder without conv biases, fusing [f16, features], plus the deep
    update of the hidden state (``hidden_reinforce``)."""

    def __init__(self, value_dim: int, hidden_dim: int):
        super().__init__(bias=False, key_first=True, value_dim=value_dim)
        self.hidden_reinforce = HiddenGate(value_dim, hidden_dim) if hidden_dim else None


class XMem(nn.Module):
    def __init__(self, key_dim: int = 64, value_dim: int = 512, hidden_dim: int = 64):
        super().__init__()
        self.key_dim, self.value_dim, self.hidden_dim = key_dim, value_dim, hidden_dim
        self.key_encoder = KeyEncoder()
        self.value_encoder = XMemValueEncoder(value_dim, hidden_dim)
        self.key_proj = KeyProjection(1024, key_dim, terms=True)
        self.decoder = XMemDecoder(value_dim, hidden_dim)

    def encode_key(self, image: torch.Tensor) -> XMemFeatures:
        """image: normalised, padded [1, 3, H, W]."""
        f16, f8, f4 = self.key_encoder(image)
        return XMemFeatures(*self.key_proj.with_terms(f16), f16, f8, f4)

    def encode_value(
        self, image: torch.Tensor, f16: torch.Tensor, masks: torch.Tensor, hidden: torch.Tensor | None, deep_update: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Soft masks [K, H, W] of the frame -> (values [K, Cv, h, w], the deep-updated
        hidden state or None when ``deep_update`` is off or there is none)."""
        values = self.value_encoder(image, f16, masks, other_objects(masks))
        if not deep_update or self.value_encoder.hidden_reinforce is None:
            return values, None
        return values, self.value_encoder.hidden_reinforce(values, hidden)

    def segment(
        self, readout: torch.Tensor, hidden: torch.Tensor | None, features: XMemFeatures, update: bool, out_size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Memory readout [K, Cv, h, w] -> (object probabilities [K, *out_size] (sigmoid),
        the decoder-updated hidden state or None)."""
        logits, hidden = self.decoder(readout, hidden, features, update, out_size)
        return torch.sigmoid(logits), hidden


def dimensions(state: dict[str, torch.Tensor], path: str | os.PathLike) -> tuple[int, int, int]:
    """(key, value, hidden) dims read from the checkpoint's entries."""
    lacking = [name for name in (KEY_ENTRY, VALUE_ENTRY) if name not in state]
    if lacking:
        raise VosbenchError(
            f"{path}: not an XMem checkpoint: it lacks {' and '.join(lacking)}, from which the network's dimensions "
            "are read. Give a released XMem checkpoint (XMem.pth, XMem-s012.pth, ...)"
        )
    hidden = state[HIDDEN_ENTRY].shape[0] // 3 if HIDDEN_ENTRY in state else 0
    return state[KEY_ENTRY].shape[0], state[VALUE_ENTRY].shape[0], hidden


def load_xmem(path: str | os.PathLike) -> XMem:
    """The network from an official XMem checkpoint (a flat state dict), in eval mode; a
    single-object checkpoint's 4-channel value conv1 gets a zero 5th channel."""
    state = widen_value_conv1(load_checkpoint(path))
    # a DataParallel prefix is stripped by load_state; read the dimensions without it
    plain = {k.removeprefix("module."): v for k, v in state.items()}
    network = XMem(*dimensions(plain, path))
    load_state(network, state, path)
    return network.eval()
