"""ResNet-18/50 trunks with torchvision's parameter names (torchvision is not needed).

The VOS networks keep only the stem and the first three stages, and some rename
``layer1`` (STCN's ``res2``) or give every convolution a bias (STCN's value encoder).
``ResNet`` takes the stage names and the bias flag so each network builds the trunk its
official checkpoint describes. Blocks are torchvision "v1.5": a bottleneck's stride sits
on its 3x3 convolution.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def fold_batchnorm(conv: nn.Conv2d, bn: nn.Module) -> nn.Module:
    """Fold an inference-mode BatchNorm into the convolution before it (in place): the
    pair computes the same affine map in one pass over the output instead of two.
    Returns the module to put where the BatchNorm was (an Identity)."""
    if not isinstance(bn, nn.BatchNorm2d):
        return bn  # already folded
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias, requires_grad=False)
    return nn.Identity()


def conv3x3(cin: int, cout: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)


def conv1x1(cin: int, cout: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=bias)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, bias: bool = False):
        super().__init__()
        self.conv1 = conv3x3(cin, planes, stride, bias)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, 1, bias)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)

    def fold_batchnorm(self) -> None:
        self.bn1 = fold_batchnorm(self.conv1, self.bn1)
        self.bn2 = fold_batchnorm(self.conv2, self.bn2)
        _fold_downsample(self.downsample)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, bias: bool = False):
        super().__init__()
        self.conv1 = conv1x1(cin, planes, 1, bias)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride, bias)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * 4, 1, bias)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)

    def fold_batchnorm(self) -> None:
        self.bn1 = fold_batchnorm(self.conv1, self.bn1)
        self.bn2 = fold_batchnorm(self.conv2, self.bn2)
        self.bn3 = fold_batchnorm(self.conv3, self.bn3)
        _fold_downsample(self.downsample)


def _fold_downsample(downsample: nn.Sequential | None) -> None:
    if downsample is not None:
        downsample[1] = fold_batchnorm(downsample[0], downsample[1])


def make_stage(block: type, cin: int, planes: int, blocks: int, stride: int, bias: bool) -> tuple[nn.Sequential, int]:
    cout = planes * block.expansion
    downsample = None
    if stride != 1 or cin != cout:
        downsample = nn.Sequential(conv1x1(cin, cout, stride, bias), nn.BatchNorm2d(cout))
    layers = [block(cin, planes, stride, downsample, bias)]
    layers += [block(cout, planes, 1, None, bias) for _ in range(blocks - 1)]
    return nn.Sequential(*layers), cout


ARCHS: dict[str, tuple[type, tuple[int, ...]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
}


class ResNet(nn.Module):
    """Stem plus ``len(stage_names)`` stages of a torchvision ResNet.

    ``forward`` returns the stem output (after ReLU, before max-pool, stride 2) followed
    by each stage's output (strides 4, 8, 16, 32).
    """

    def __init__(
        self,
        arch: str = "resnet50",
        stage_names: Sequence[str] = ("layer1", "layer2", "layer3"),
        in_channels: int = 3,
        bias: bool = False,
    ):
        super().__init__()
        block, depths = ARCHS[arch]
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=bias)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.stage_names = tuple(stage_names)
        self.channels_last = False  # see use_channels_last
        self.channels = [64]
        cin = 64
        for index, name in enumerate(self.stage_names):
            stage, cin = make_stage(block, cin, 64 * 2**index, depths[index], 1 if index == 0 else 2, bias)
            self.add_module(name, stage)
            self.channels.append(cin)

    def fold_batchnorm(self) -> None:
        """Fold every BatchNorm into its convolution, for inference only: afterwards the
        state dict no longer has the ``bn`` entries, and training would be wrong."""
        self.bn1 = fold_batchnorm(self.conv1, self.bn1)
        for name in self.stage_names:
            for block in getattr(self, name):
                block.fold_batchnorm()

    def use_channels_last(self) -> None:
        """Keep weights and activations channels-last: oneDNN's CPU convolutions, the
        1x1 ones above all, run about 1.3x faster on this layout (bench/NOTES.md).
        Outputs stay channels-last; torch's operations accept either layout."""
        self.to(memory_format=torch.channels_last)
        self.channels_last = True

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        stem = self.relu(self.bn1(self.conv1(x)))
        features = [stem]
        x = self.maxpool(stem)
        for name in self.stage_names:
            x = getattr(self, name)(x)
            features.append(x)
        return features
