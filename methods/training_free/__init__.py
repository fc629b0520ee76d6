"""Training-free mode: every method runs without weights through its own memory policy.

``TRAINING_FREE_PARAMS`` are the feature parameters each method lists (they matter only
when no checkpoint is given); ``training_free(config, memory, ...)`` builds the method.
"""

from __future__ import annotations

import torch

from methods.base import Method
from methods.memory.base import MemoryPolicy
from vosbench.errors import VosbenchError
from vosbench.registry import Param

TRAINING_FREE_PARAMS = (
    Param("tf_stride", 8, "training-free: grid stride in pixels of the colour/position features"),
    Param("tf_xy", 0.25, "training-free: weight of position against Lab colour"),
    Param("tf_const", 0.3, "training-free: constant channel; smaller spreads colours wider on the sphere"),
    Param("tf_gain", 16.0, "training-free: feature norm, the sharpness of dot-product reads"),
    Param("tf_rff", 0, "training-free: random Fourier features of this dimension (a Gaussian-kernel map; 0: plain)"),
    Param("tf_sigma", 0.1, "training-free: kernel width of the Fourier features, in Lab/position units"),
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
    return LabelPropagation(features, memory, device, dtype)
