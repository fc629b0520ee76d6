"""How well SWEM's bases match the next frame (the SWEM paper's Fig. 4).

SWEM's memory (``EMBases``) runs over the video with the ground-truth masks, writing
every frame but the last as SWEM does. Before frame t is written, each of its positions
is matched against the bases the memory fitted last (the running bank, or the first
bank while that is all there is), object by object: a count is a position's highest
cosine to any base of that object, background and foreground groups together. So a
frame after the first gives N x K counts (N positions, K objects). ``adaptive`` turns
SWEM's W-step on or off; everything else is equal between the two.
"""

from __future__ import annotations

import numpy as np
import torch

from methods.memory.em_bases import EMBases
from vosbench.redundancy.histogram import CHUNK, Bins, Unit, max_counts


class SwemMatching:
    def __init__(
        self,
        bins: Bins,
        bases_per_group: int,
        adaptive: bool,
        em_iters: int = 4,
        tau: float = 0.05,
        seed: int = 0,
        chunk: int = CHUNK,
    ):
        self.bins = bins
        self.chunk = chunk
        self.memory = EMBases(num_bases=bases_per_group, em_iters=em_iters, tau=tau, top_l=1, adaptive=adaptive, seed=seed)

    def start(self, num_objects: int) -> None:
        self.memory.reset(num_objects)

    def step(
        self, index: int, units: Unit, features: np.ndarray, masks: tuple[torch.Tensor, torch.Tensor], is_last: bool
    ) -> np.ndarray | None:
        """Counts of frame ``index`` against the bases so far (None at the first frame), then write it.

        units: the frame's unit features; features: raw [N, C]; masks: soft and hard [K, N].
        """
        memory = self.memory
        bank = memory.update if memory.update is not None else memory.first
        counts = None
        if bank is not None:
            counts = np.zeros(self.bins.count, np.int64)
            for keys in bank.keys:  # per object: [groups, C, B]
                bases = Unit.of(keys.transpose(1, 2).reshape(-1, keys.shape[1]).numpy())
                counts += max_counts(units, bases, self.bins, self.chunk)
        if memory.wants(index, is_last):
            soft, hard = masks
            keys = torch.from_numpy(np.ascontiguousarray(features.T))[None]  # shared by the objects
            memory.write(index, keys, soft[:, None], soft, hard)
        return counts
