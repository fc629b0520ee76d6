"""A frame's colour and masks on a method's key grid, for the analyses that need masks.

Both are area averages (``adaptive_avg_pool2d``) of the full-size frame onto the grid
of the key features, whatever stride, resize or padding produced it; for a network that
pads the frame the cells are up to one cell off its own (a few pixels at 480p).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def grid_colour(frame: np.ndarray, grid: tuple[int, int]) -> torch.Tensor:
    """Mean RGB in [0, 1] of each grid cell of an RGB uint8 frame [H, W, 3] -> [3, h * w]."""
    image = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float().div(255)
    return F.adaptive_avg_pool2d(image[None], grid)[0].flatten(1)


def grid_masks(labels: np.ndarray, num_objects: int, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft and hard masks [K, h * w] of objects 1..K from contiguous labels [H, W].

    Soft: each object's share of the cell; hard: 1 where the object has the largest
    share, background included (first on ties).
    """
    classes = torch.arange(num_objects + 1).view(-1, 1, 1)
    onehot = (torch.from_numpy(np.ascontiguousarray(labels)).long()[None] == classes).float()
    share = F.adaptive_avg_pool2d(onehot[None], grid)[0].flatten(1)  # [K + 1, N]
    hard = F.one_hot(share.argmax(dim=0), num_objects + 1).T[1:].float()
    return share[1:], hard
