"""SwiftNet's temporal variation, frame by frame (the paper's variation-aware trigger).

SwiftNet's pixel-adaptive memory (``PixelAdaptiveMemory`` with trigger "variation")
runs over the video with the ground-truth masks and each frame's key features. Per
frame, against the last memorised frame (the trigger's reference):

- ``frame_changed``: grid positions whose mean colour changed by more than th_f;
- ``mask_changed``: positions whose mask changed by more than th_m;
- ``varied``: both, and ``varied_fraction`` = varied / N;
- ``triggered``: whether the trigger fires (varied_fraction > p_th; the first frame
  always, as the reference);
- ``added``: positions the memory takes in: all N per object at the first frame, the
  ceil(beta N) least-matched per object when the trigger fires later, else 0.

The first frame has no reference, so its change counts are missing. Every frame is
offered to the trigger, the last one included (the method itself never stores a last
frame), so that every frame has its statistics.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import torch

from methods.memory.pixel_adaptive import PixelAdaptiveMemory, changed_positions

DTYPES = {
    "frame_changed": "Int64",
    "mask_changed": "Int64",
    "varied": "Int64",
    "varied_fraction": "Float64",
    "triggered": "boolean",
    "added": "Int64",
}
COLUMNS = tuple(DTYPES)


class SwiftNetVariation:
    def __init__(self, th_f: float, th_m: float, p_th: float, beta: float):
        self.memory = PixelAdaptiveMemory(beta=beta, trigger="variation", th_f=th_f, th_m=th_m, p_th=p_th)

    def start(self, num_objects: int) -> None:
        self.memory.reset(num_objects)
        self.num_objects = num_objects
        self.reference: tuple[torch.Tensor, torch.Tensor] | None = None
        self.rows: list[dict] = []

    def step(self, index: int, colour: torch.Tensor, features: np.ndarray, soft: torch.Tensor) -> None:
        """Frame ``index``: colour [3, N] in [0, 1], raw features [N, C], soft masks [K, N]."""
        memory = self.memory
        row: dict = {"frame": index}
        if self.reference is not None:
            frame_changed, mask_changed = changed_positions(colour, self.reference[0], soft, self.reference[1], memory.th_f, memory.th_m)
            varied = int((frame_changed & mask_changed).sum())
            row |= {
                "frame_changed": int(frame_changed.sum()),
                "mask_changed": int(mask_changed.sum()),
                "varied": varied,
                "varied_fraction": varied / colour.shape[1],
            }
        memory.observe(index, colour, soft)
        keys = torch.from_numpy(np.ascontiguousarray(features.T))[None].expand(self.num_objects, -1, -1)
        memory.write(index, keys, soft[:, None], soft)
        row["triggered"] = bool(memory.memorised) and memory.memorised[-1] == index
        if row["triggered"]:
            self.reference = (colour, soft)
        self.rows.append(row)

    def finish(self, positions: int) -> pd.DataFrame:
        """The per-frame table (frame and ``COLUMNS``) once the last frame was given."""
        self.memory.finish()
        added = Counter({update.frame: sum(len(p) for p in update.positions.values()) for update in self.memory.updates})
        if self.memory.memorised:
            added[self.memory.memorised[0]] += positions * self.num_objects  # the reference, stored whole
        table = pd.DataFrame(self.rows, columns=("frame", *COLUMNS))
        table["added"] = table["frame"].map(added).fillna(0)
        return table.astype(DTYPES)
