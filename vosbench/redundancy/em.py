"""A frame's features compressed to a few bases by SWEM's weighted EM.

The EM is the one in ``methods/memory/em_bases.py`` (``compress``): one group, every
position weighted 1, fixed weights, raw features against unit bases at temperature
``tau``, initial bases drawn from ``seed`` (the same draw for every frame, so a frame's
bases depend on the frame alone). Bases that win no position keep their initial key:
every one of the ``num_bases`` counts, as every SWEM base is matched.
"""

from __future__ import annotations

import numpy as np
import torch

from methods.memory.em_bases import compress


def frame_bases(features: np.ndarray, num_bases: int, iters: int = 4, tau: float = 0.05, seed: int = 0) -> np.ndarray:
    """Key bases float32 [num_bases, C] of one frame's features [N, C]."""
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    with torch.inference_mode():
        bases = compress(x, num_bases, iters=iters, tau=tau, seed=seed)
    return bases.keys[0, 0].T.contiguous().numpy()
