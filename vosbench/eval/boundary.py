"""Boundary F-measure exactly as davis2017-evaluation defines it.

``metrics.f_measure`` there: take the one-pixel boundary of each mask (``seg2bmap``),
dilate each boundary with the digital disk of radius ``ceil(bound_th * image
diagonal)`` (skimage's ``disk``: x^2 + y^2 <= r^2), and count the boundary pixels of one
mask that fall inside the dilated boundary of the other. Precision is the matched share
of the prediction's boundary, recall that of the ground truth's, F their harmonic mean.

``seg2bmap`` and ``disk`` here are the plain full-frame definitions; the evaluator
computes the same counts on packed words inside a box (``vosbench.eval.frame``), and
the tests hold the two to each other.
"""

from __future__ import annotations

import math

import numpy as np

BOUND_TH = 0.008
"""Default tolerance, a fraction of the image diagonal (davis2017-evaluation's bound_th)."""


def tolerance_radius(shape: tuple[int, int], bound_th: float = BOUND_TH) -> int:
    """Disk radius in pixels: ``bound_th`` itself when >= 1, else ceil(bound_th * diagonal)."""
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise ValueError(f"bound_th >= 1 is a radius in pixels and must be whole, got {bound_th}")
        return int(bound_th)
    height, width = shape
    # the square root of the exact integer sum, as np.linalg.norm computes it
    return math.ceil(bound_th * math.sqrt(float(height * height + width * width)))


def disk(radius: int) -> np.ndarray:
    """The digital disk x^2 + y^2 <= r^2 as bool [2r + 1, 2r + 1] (skimage.morphology.disk)."""
    offsets = np.arange(-radius, radius + 1)
    return offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius * radius


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary of a binary mask, exactly davis2017-evaluation's ``_seg2bmap``.

    A pixel is on the boundary when it differs from its east, south or south-east
    neighbour (so the boundary sits half a pixel towards the origin). The last row
    compares only east, the last column only south, and the bottom-right pixel is never
    on it: the image's bottom and right edges are not boundaries.
    """
    m = np.asarray(mask, dtype=bool)
    east = np.zeros_like(m)
    south = np.zeros_like(m)
    south_east = np.zeros_like(m)
    east[:, :-1] = m[:, 1:]
    south[:-1, :] = m[1:, :]
    south_east[:-1, :-1] = m[1:, 1:]
    b = (m ^ east) | (m ^ south) | (m ^ south_east)
    b[-1, :] = m[-1, :] ^ east[-1, :]
    b[:, -1] = m[:, -1] ^ south[:, -1]
    b[-1, -1] = False
    return b


def f_from_counts(n_fg: int, n_gt: int, fg_match: int, gt_match: int) -> float:
    """F from boundary pixel counts of the prediction (fg) and the ground truth (gt).

    Keeps the reference's empty cases (no boundary in either: 1; in one only: 0) and
    its exact float operations, so values agree to the last bit.
    """
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = fg_match / float(n_fg)
        recall = gt_match / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)

