"""SwiftNet's network (ResNet-18 release), with the parameter names of its checkpoint.

Names follow the released ``swiftnet_resnet18_old.pth`` (less DataParallel's
``module.`` prefix, which the checkpoint loader strips): ``Encoder``, ``LAE``,
``KV_Q_r4``, ``KV_M_r4``, ``aspp``, ``Decoder``. The pieces, in the order a frame meets
them, are described in shared/conformance/swiftnet/README.md; the points that change
results are commented where they happen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from methods.backbones.resnet import ResNet

STRIDE = 16
"""Key-grid stride: frames are padded to a multiple of it."""


@dataclass(frozen=True)
class Taps:
    """Encoder outputs of one frame: c1 (1/2, 64 ch), r2 (1/4, 64), r3 (1/8, 128), r4 (1/16, 256)."""

    c1: torch.Tensor
    r2: torch.Tensor
    r3: torch.Tensor
    r4: torch.Tensor


class Encoder(ResNet):
    """ResNet-18 stem and layer1..3 (named res2..res4), normalising its [0, 1] input."""

    def __init__(self):
        super().__init__("resnet18", ("res2", "res3", "res4"))
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> Taps:
        # c1 is the stem after its ReLU: the release taps it before, but its ReLU is
        # in place, so the tensor it uses is the rectified one.
        c1, r2, r3, r4 = super().forward((image - self.mean) / self.std)
        return Taps(c1, r2, r3, r4)


class LightAggregationEncoder(nn.Module):
    """LAE: fuses a frame's encoder taps with an object's mask and the other objects' mask.

    The masks enter twice: through a strided 7x7 convolution at 1/2, and at 1/16 by the
    reversed sub-pixel (space-to-depth by 16, channel dy * 16 + dx). No biases.
    """

    def __init__(self):
        super().__init__()
        self.conv1_m = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
        self.conv1_o = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
        self.conv2_m = nn.Conv2d(256, 256, 3, padding=1, bias=False)
        self.conv2_o = nn.Conv2d(256, 256, 3, padding=1, bias=False)
        self.conv_fusion1 = nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False)
        self.conv_fusion2 = nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False)
        self.conv_fusion3 = nn.Conv2d(128, 256, 3, stride=2, padding=1, bias=False)
        self.conv_fusion4 = nn.Conv2d(256, 256, 3, padding=1, bias=False)
        self.conv_fusion5 = nn.Conv2d(256, 256, 3, padding=1, bias=False)

    def forward(self, taps: Taps, mask: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
        """Taps of one frame (batch 1), masks [K, 1, H, W] -> features [K, 256, H/16, W/16]."""
        # conv_m(mask) + conv_o(others) is one convolution of the stacked pair with the
        # stacked weights: one pass over the full-size maps instead of two and an add
        pair = torch.cat([mask, others], dim=1)
        x = F.relu(taps.c1 + F.conv2d(pair, _stacked(self.conv1_m, self.conv1_o), stride=2, padding=3))
        x = F.relu(taps.r2 + self.conv_fusion1(x))
        x = F.relu(taps.r3 + self.conv_fusion2(x))
        pair_small = F.pixel_unshuffle(pair, STRIDE)  # [mask's 256 channels, others' 256]
        masks_small = F.conv2d(pair_small, _stacked(self.conv2_m, self.conv2_o), padding=1)
        x = F.relu(taps.r4 + masks_small + self.conv_fusion3(x))
        x = F.relu(self.conv_fusion4(x))
        return F.relu(self.conv_fusion5(x))


def _stacked(first: nn.Conv2d, second: nn.Conv2d) -> torch.Tensor:
    """The weights of two bias-free convolutions side by side along the input channels."""
    return torch.cat([first.weight, second.weight], dim=1)


class KeyValue(nn.Module):
    def __init__(self, in_channels: int, key_channels: int, value_channels: int):
        super().__init__()
        self.Key = nn.Conv2d(in_channels, key_channels, 3, padding=1)
        self.Value = nn.Conv2d(in_channels, value_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.Key(x), self.Value(x)


class AtrousBranch(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel: int, dilation: int):
        super().__init__()
        padding = 0 if kernel == 1 else dilation
        self.atrous_conv = nn.Conv2d(in_channels, out_channels, kernel, padding=padding, dilation=dilation, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.atrous_conv(x))


class ASPP(nn.Module):
    """Four branches (1x1; 3x3 dilated 2, 4, 8), concatenated and fused by a 1x1 conv."""

    def __init__(self, in_channels: int = 256, channels: int = 128):
        super().__init__()
        self.aspp1 = AtrousBranch(in_channels, channels, 1, 1)
        self.aspp2 = AtrousBranch(in_channels, channels, 3, 2)
        self.aspp3 = AtrousBranch(in_channels, channels, 3, 4)
        self.aspp4 = AtrousBranch(in_channels, channels, 3, 8)
        self.conv1 = nn.Conv2d(4 * channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x)]
        return F.relu(self.conv1(torch.cat(branches, dim=1)))  # the release's dropout is off in eval


class ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The skip carries ReLU(x): the release rectifies x in place before its branch.
        x = F.relu(x)
        return x + self.conv2(F.relu(self.conv1(x)))


class Refine(nn.Module):
    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.convFS = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.ResFS = ResBlock(channels)
        self.ResMM = ResBlock(channels)

    def forward(self, skip: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        s = self.ResFS(self.convFS(skip))
        return self.ResMM(s + F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False))


class Decoder(nn.Module):
    def __init__(self, in_channels: int = 128, channels: int = 64):
        super().__init__()
        self.convFM = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.ResMM = ResBlock(channels)
        self.RF3 = Refine(128, channels)
        self.RF2 = Refine(64, channels)
        self.pred2 = nn.Conv2d(channels, 2, 3, padding=1)

    def forward(self, x: torch.Tensor, r3: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
        """Features [K, 128, h, w] and the query's r3, r2 (batch 1) -> logits [K, 2, 16h, 16w]."""
        m4 = self.ResMM(self.convFM(x))
        m3 = self.RF3(r3, m4)
        m2 = self.RF2(r2, m3)
        logits = self.pred2(F.relu(m2))
        return F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)


class SwiftNet(nn.Module):
    """The released SwiftNet (ResNet-18); keys 32, values 128 channels at stride 16."""

    key_channels = 32
    value_channels = 128

    def __init__(self):
        super().__init__()
        self.LAE = LightAggregationEncoder()
        self.Encoder = Encoder()
        self.KV_M_r4 = KeyValue(256, self.key_channels, self.value_channels)
        self.KV_Q_r4 = KeyValue(256, self.key_channels, self.value_channels)
        self.Decoder = Decoder()
        self.aspp = ASPP()

    def encode(self, image: torch.Tensor) -> Taps:
        """Padded RGB in [0, 1], [1, 3, H, W] -> encoder taps (padding happens before normalising)."""
        return self.Encoder(image)

    def query(self, taps: Taps) -> tuple[torch.Tensor, torch.Tensor]:
        """Query key [1, 32, h, w] and value [1, 128, h, w]."""
        return self.KV_Q_r4(taps.r4)

    def memorise(self, taps: Taps, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Soft masks [K, H, W] of one frame -> memory keys [K, 32, h, w] and values [K, 128, h, w].

        Each object is encoded with the other objects' union (clamped to 1) beside it.
        """
        mask = masks.unsqueeze(1)
        others = (masks.sum(dim=0, keepdim=True) - masks).clamp(0, 1).unsqueeze(1)
        return self.KV_M_r4(self.LAE(taps, mask, others))

    def segment(self, readout: torch.Tensor, query_value: torch.Tensor, taps: Taps) -> torch.Tensor:
        """Memory readout [K, 128, h, w] -> each object's probability [K, H, W] (padded size)."""
        feature = torch.cat([readout, query_value.expand(readout.shape[0], -1, -1, -1)], dim=1)
        logits = self.Decoder(self.aspp(feature), taps.r3, taps.r2)
        return torch.softmax(logits, dim=1)[:, 1]
