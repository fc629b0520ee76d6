"""Network parts shared by the STM family (STCN, SWEM): encoders, fusion, decoder, and
the soft aggregation of per-object probabilities.

Module and parameter names follow the official code, so an official state dict loads
into a network assembled from these parts without renaming. Shapes: ``K`` objects, a
frame's features are computed once (batch 1) and broadcast over the objects.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from methods.backbones.resnet import ResNet
from methods.frames import IMAGENET_MEAN, IMAGENET_STD


class FrameFeatures(NamedTuple):
    """A query frame's features (batch 1), strides 16, 16, 16, 8, 4."""

    key: torch.Tensor  # [1, Ck, h, w], key_proj(f16)
    value: torch.Tensor  # [1, 512, h, w], key_comp(f16): the query half of the decoder's input
    f16: torch.Tensor  # [1, 1024, h, w], fed to the value encoder's fuser
    f8: torch.Tensor
    f4: torch.Tensor


class ResBlock(nn.Module):
    """conv2(relu(conv1(relu(x)))) + skip; skip is x itself, or a conv of x when the
    channel counts differ (never relu(x)): 3x3 in the STM family, 1x1 in Cutie
    (``skip_kernel``)."""

    def __init__(self, cin: int, cout: int, skip_kernel: int = 3):
        super().__init__()
        self.downsample = nn.Conv2d(cin, cout, skip_kernel, padding=skip_kernel // 2) if cin != cout else None
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.conv2(F.relu(self.conv1(F.relu(x))))
        return r + (x if self.downsample is None else self.downsample(x))


class ChannelGate(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        # index 0 is a flatten so that the Linear layers keep the official names mlp.1 / mlp.3
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(channels, channels // reduction), nn.ReLU(), nn.Linear(channels // reduction, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        return x * torch.sigmoid(gate)[:, :, None, None]


class _SpatialConv(nn.Module):
    # holds the conv under the official name ``spatial.conv``
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SpatialGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.spatial = _SpatialConv()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # max first, then mean: the order the weights were trained with
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.ChannelGate = ChannelGate(channels)
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class FeatureFusionBlock(nn.Module):
    """A ``fuser``: features x and the frame's key features f16, concatenated, through a
    ResBlock, CBAM attention (added) and a second ResBlock. STCN concatenates [x, f16];
    XMem (``key_first``) [f16, x], in its value encoder and its decoder alike."""

    def __init__(self, cin: int, cout: int, key_first: bool = False):
        super().__init__()
        self.block1 = ResBlock(cin, cout)
        self.attention = CBAM(cout)
        self.block2 = ResBlock(cout, cout)
        self.key_first = key_first

    def forward(self, x: torch.Tensor, f16: torch.Tensor) -> torch.Tensor:
        x = self.block1(torch.cat([f16, x] if self.key_first else [x, f16], dim=1))
        return self.block2(x + self.attention(x))


class _Normalising:
    """Mixin for encoders that hold ImageNet ``mean`` / ``std`` buffers (SWEM's do)."""

    def _add_normalisation(self, enabled: bool) -> None:
        self.normalises = enabled
        if enabled:
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def _prepare(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self.mean) / self.std if self.normalises else image


class KeyEncoder(_Normalising, ResNet):
    """ResNet-50 up to layer3 with ``layer1`` named ``res2``; returns (f16, f8, f4).

    ``normalise``: the encoder holds ``mean`` / ``std`` and takes [0, 1] images (SWEM);
    otherwise it takes images normalised outside (STCN).
    """

    def __init__(self, normalise: bool = False):
        super().__init__("resnet50", ("res2", "layer2", "layer3"))
        self._add_normalisation(normalise)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _, f4, f8, f16 = super().forward(self._prepare(image))
        return f16, f8, f4


class ValueEncoder(_Normalising, ResNet):
    """ResNet-18 on [image, mask, others] up to layer3, then the ``fuser`` with the
    frame's key-encoder f16: one ``value_dim``-channel value map per object.

    STCN and SWEM give every trunk conv a bias (``bias``); XMem gives none and fuses
    [f16, features] (``key_first``).
    """

    def __init__(
        self,
        key_channels: int = 1024,
        normalise: bool = False,
        bias: bool = True,
        key_first: bool = False,
        value_dim: int = 512,
    ):
        super().__init__("resnet18", ("layer1", "layer2", "layer3"), in_channels=5, bias=bias)
        self.fuser = FeatureFusionBlock(key_channels + 256, value_dim, key_first)
        self._add_normalisation(normalise)

    def forward(self, image: torch.Tensor, f16: torch.Tensor, masks: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
        """image [1, 3, H, W]; f16 [1, C, h, w]; masks, others [K, H, W] -> [K, 512, h, w]."""
        k = masks.shape[0]
        image = self._prepare(image).expand(k, -1, -1, -1)
        x = torch.cat([image, masks.unsqueeze(1).to(image.dtype), others.unsqueeze(1).to(image.dtype)], dim=1)
        x = super().forward(x)[-1]
        return self.fuser(x, f16.expand(k, -1, -1, -1))


def other_objects(masks: torch.Tensor) -> torch.Tensor:
    """others_k = the sum of the other objects' soft masks [K, H, W] (zeros for one
    object), summed as a 0/1 matrix product (exact for two objects)."""
    exclude = 1 - torch.eye(masks.shape[0], dtype=masks.dtype, device=masks.device)
    return torch.einsum("kj,jhw->khw", exclude, masks)


class KeyProjection(nn.Module):
    """The key (3x3 conv of f16); with ``terms`` also XMem's similarity terms: the
    shrinkage ``d_proj(f16)^2 + 1`` (1 channel, >= 1) and the selection
    ``sigmoid(e_proj(f16))`` (key_dim channels, in (0, 1)). With ``mid`` (Cutie) the
    three convolutions read a 1x1 projection ``pix_feat_proj`` of f16 to ``mid`` channels."""

    def __init__(self, cin: int, key_dim: int, terms: bool = False, mid: int | None = None):
        super().__init__()
        self.pix_feat_proj = None if mid is None else nn.Conv2d(cin, mid, 1)
        cin = cin if mid is None else mid
        self.key_proj = nn.Conv2d(cin, key_dim, 3, padding=1)
        if terms:
            self.d_proj = nn.Conv2d(cin, 1, 3, padding=1)
            self.e_proj = nn.Conv2d(cin, key_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.key_proj(x)

    def with_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(key, shrinkage, selection) of f16 ``x``."""
        if self.pix_feat_proj is not None:
            x = self.pix_feat_proj(x)
        return self.key_proj(x), self.d_proj(x) ** 2 + 1, torch.sigmoid(self.e_proj(x))


class UpsampleBlock(nn.Module):
    """ResBlock(skip_conv(skip) + bilinear upsampling of ``up``). Cutie projects its skips
    beforehand (``skip_channels`` None: no ``skip_conv``) and skips with 1x1 convs."""

    def __init__(self, skip_channels: int | None, up_channels: int, out_channels: int, skip_kernel: int = 3):
        super().__init__()
        self.skip_conv = None if skip_channels is None else nn.Conv2d(skip_channels, up_channels, 3, padding=1)
        self.out_conv = ResBlock(up_channels, out_channels, skip_kernel)

    def forward(self, skip: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        # the skip is the frame's (batch 1) and broadcasts over the objects
        x = skip if self.skip_conv is None else self.skip_conv(skip)
        return self.out_conv(x + F.interpolate(up, size=x.shape[-2:], mode="bilinear", align_corners=False))


class Decoder(nn.Module):
    """compress (ResBlock in->512), two skip-upsampling stages, a 1-channel logit.

    ``compress_in`` is 1024 in STCN (readout + query value) and 512 in SWEM (the fused
    context). Upsampling is bilinear to the skip's size; for the padded inputs of STCN
    that is exactly its x2 / x4.
    """

    def __init__(self, compress_in: int):
        super().__init__()
        self.compress = ResBlock(compress_in, 512)
        self.up_16_8 = UpsampleBlock(512, 512, 256)
        self.up_8_4 = UpsampleBlock(256, 256, 256)
        self.pred = nn.Conv2d(256, 1, 3, padding=1)

    def forward(self, x: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
        """x [K, compress_in, h, w]; f8, f4 the frame's [1, ...] -> logits [K, out_size]."""
        x = self.up_8_4(f4, self.up_16_8(f8, self.compress(x)))
        logit = self.pred(F.relu(x))
        return F.interpolate(logit, size=out_size, mode="bilinear", align_corners=False)[:, 0]


def aggregate_logits(p: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Odds logits ln(e / (1 - e)) of [prod(1 - p), p_1..p_K] along ``dim`` (clamped to
    [1e-7, 1 - 1e-7]): per-object probabilities [K, ...] -> [K + 1, ...], background first."""
    e = torch.cat([torch.prod(1 - p, dim=dim, keepdim=True), p], dim=dim).clamp(1e-7, 1 - 1e-7)
    return torch.log(e / (1 - e))


def aggregate(p: torch.Tensor) -> torch.Tensor:
    """STM's soft aggregation: per-object probabilities [K, ...] -> [K + 1, ...] summing
    to 1, background first: the softmax of ``aggregate_logits``; for one object this
    sharpens p to p^2 / (p^2 + (1 - p)^2).
    """
    return torch.softmax(aggregate_logits(p), dim=0)


VALUE_CONV1 = "value_encoder.conv1.weight"


def widen_value_conv1(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A 4-input-channel value-encoder conv1 (static-image, single-object stage) gets a
    zero 5th channel (the "others" mask), so it loads into the multi-object network.
    Keys may carry a ``module.`` prefix."""
    widened = dict(state)
    for name, weight in state.items():
        if (name == VALUE_CONV1 or name.endswith("." + VALUE_CONV1)) and weight.dim() == 4 and weight.shape[1] == 4:
            widened[name] = torch.cat([weight, torch.zeros_like(weight[:, :1])], dim=1)
    return widened
