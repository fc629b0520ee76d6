"""Learned features with no training here: an ImageNet-trained EfficientNet-Lite0's maps.

Each grid cell (``stride`` x ``stride`` pixels, the same ceil grid as ``ColourPosition``)
gets

    gain * normalise([w_8 * unit(f_8), w_16 * unit(f_16), colour * unit(colour/position)])

where ``f_s`` is the network's map at output stride ``s`` (block 4, 40 channels; block
10, 112 channels) resampled onto the grid (area-averaged when the grid is coarser,
bilinear when finer) and ``unit`` makes each part unit-length per cell, so every scale
weighs what its weight says whatever its channel count. Why both scales: stride 8 keeps
boundaries and small parts, stride 16 is more semantic (parts of one object look alike
across pose and lighting). The optional colour/position part (the seeded Fourier
features of ``ColourPosition``) separates nearby instances of one class, which ImageNet
features map alike. On a sphere again, so every memory policy's similarity ranks alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from methods.backbones.efficientnet_lite import CHANNELS, shared_efficientnet_lite0
from methods.training_free.features import ColourPosition, lab_of

SCALES = {"8": (8,), "16": (16,), "8+16": (8, 16)}


class LearnedFeatures:
    """Frame [3, H, W] in [0, 1] -> keys [C, h, w] on the ``stride`` grid."""

    def __init__(
        self,
        stride: int = 8,
        scales: str = "8+16",
        colour: float = 0.0,
        gain: float = 16.0,
        colour_features: ColourPosition | None = None,
        device: str | torch.device = "cpu",
    ):
        if stride < 1 or gain <= 0 or colour < 0:
            raise ValueError("stride >= 1, gain > 0 and colour >= 0 are required")
        if scales not in SCALES:
            raise ValueError(f"scales must be one of {', '.join(SCALES)}, got {scales!r}")
        if colour > 0 and colour_features is None:
            raise ValueError("a colour weight needs the colour/position features")
        self.stride = stride
        self.strides = SCALES[scales]
        self.colour = colour
        self.gain = gain
        self.colour_features = colour_features
        self.network = shared_efficientnet_lite0(str(torch.device(device)))

    @property
    def channels(self) -> int:
        extra = self.colour_features.channels if self.colour > 0 else 0
        return sum(CHANNELS[s] for s in self.strides) + extra

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.encode(image, lab_of(image) if self.colour > 0 else None)

    def encode(self, image: torch.Tensor, lab: torch.Tensor | None) -> torch.Tensor:
        """Keys [C, h, w] of the frame [3, H, W] (and its ``lab_of`` colours, used only
        with a colour weight)."""
        height, width = image.shape[-2:]
        grid = (-(-height // self.stride), -(-width // self.stride))
        maps = self.network.features(image[None].float(), self.strides)
        parts = [F.normalize(resample(maps[s][0], grid), dim=0) for s in self.strides]
        if self.colour > 0:
            parts.append(self.colour * self.colour_features.keys(lab) / self.colour_features.gain)
        return self.gain * F.normalize(torch.cat(parts), dim=0)


def resample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Maps [C, h, w] onto ``size``: area-averaged down, bilinear up, as is when equal."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    down = size[0] < x.shape[-2]
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=down)[0]
