"""Training-free mode: every method runs without weights through its own memory policy.

``training_free_params()`` are the feature parameters each method lists (they matter only
when no checkpoint is given); ``training_free(config, memory, ...)`` builds the method.
"""

from __future__ import annotations

import torch

from methods.base import Method
from methods.memory.base import MemoryPolicy
from vosbench.errors import VosbenchError
from vosbench.registry import Param

def training_free_params(stride: int = 8) -> tuple[Param, ...]:
    """The feature parameters a method lists; ``stride`` is the method's default grid.

    Defaults measured on DAVIS 2016 val (see the README): Fourier features make every
    policy work, and a finer grid pays off where the memory stays small (EM bases,
    SwiftNet's pixel-adaptive memory); STCN's growing bank keeps stride 16.
    """
    return (
        Param("tf_stride", stride, "training-free: grid stride in pixels of the colour/position features"),
        Param("tf_xy", 0.25, "training-free: weight of position against Lab colour"),
        Param("tf_rff", 128, "training-free: random Fourier features of this dimension (a Gaussian-kernel map; 0: plain)"),
        Param("tf_sigma", 0.1, "training-free: kernel width of the Fourier features, in Lab/position units"),
        Param("tf_gain", 32.0, "training-free: feature norm, the sharpness of dot-product reads"),
        Param("tf_guide", 0.05, "training-free: colour width of edge-aware upsampling, in scaled Lab units (0: bilinear)"),
        Param("tf_const", 0.3, "training-free, plain features only: constant channel; smaller spreads colours wider"),
    )


def training_free(config: dict, memory: MemoryPolicy, device: str = "cpu", dtype: torch.dtype | None = None) -> Method:
    from methods.training_free.features import ColourPosition
    from methods.training_free.propagation import LabelPropagation

    try:
        features = ColourPosition(
            config["tf_stride"], config["tf_xy"], config["tf_const"], config["tf_gain"], config["tf_rff"], config["tf_sigma"]
        )
    except ValueError as error:
        raise VosbenchError(f"training-free features: {error}") from None
    if config["tf_guide"] < 0:
        raise VosbenchError(f"training-free: tf_guide must be >= 0, got {config['tf_guide']!r}")
    return LabelPropagation(features, memory, device, dtype, guide=config["tf_guide"])
