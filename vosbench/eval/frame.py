"""J and F of every object in one frame, computed inside the box the masks occupy.

Counts taken in the box equal full-frame counts (outside it both images are
background), and the box is packed 64 pixels to a word with all of a frame's masks
stacked, so a frame costs a few passes over the full image and a few dozen numpy calls
on some kilobytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from vosbench.eval import bitmask
from vosbench.eval.bitmask import Box
from vosbench.eval.boundary import BOUND_TH, f_from_counts, tolerance_radius
from vosbench.eval.jaccard import jaccard_from_counts


@dataclass(frozen=True)
class Scores:
    """Region similarity J and boundary F of one object in one frame."""

    j: float
    f: float


@dataclass(frozen=True)
class Target:
    """One object: the value that marks it in the ground truth and in the prediction
    (they differ when a 0/255 ground truth marks object 1 with 255)."""

    gt_value: int
    pred_value: int


@dataclass(frozen=True)
class FrameScores:
    """Scores of each target, and how many non-zero predicted pixels belong to none
    of them (a prediction of an unknown object, or of one not scored in this frame)."""

    scores: list[Scores]
    unclaimed: int


def score_frame(gt: np.ndarray, pred: np.ndarray, targets: Sequence[Target], radius: int) -> FrameScores:
    """Score each target in one frame; ``gt`` and ``pred`` are label images [H, W] of
    the same shape, ``radius`` the boundary tolerance in pixels."""
    bbox = _nonzero_bbox(gt, pred)
    if bbox is None:  # both empty: J and F are 1 by the reference's empty-mask rules
        return FrameScores([Scores(1.0, 1.0) for _ in targets], 0)
    box = Box.around(bbox, gt.shape, radius)
    k = len(targets)
    packed = box.pack([(gt, t.gt_value) for t in targets] + [(pred, t.pred_value) for t in targets])

    area = bitmask.popcount(bitmask.body(packed, box))
    overlap = bitmask.popcount(bitmask.body(packed[:k] & packed[k:], box))
    edges = bitmask.boundary(packed, box)
    edge_count = bitmask.popcount(edges)
    reach = bitmask.dilate(edges, box.words_per_row, radius)
    pred_match = bitmask.popcount(edges[k:] & reach[:k])  # predicted edge near a true one
    gt_match = bitmask.popcount(edges[:k] & reach[k:])

    scores = []
    for i in range(k):
        union = int(area[i] + area[k + i] - overlap[i])
        f = f_from_counts(int(edge_count[k + i]), int(edge_count[i]), int(pred_match[i]), int(gt_match[i]))
        scores.append(Scores(jaccard_from_counts(int(overlap[i]), union), f))
    in_box = pred[box.y0 : box.y0 + box.rows, box.x0 : box.x0 + box.cols]
    return FrameScores(scores, int(np.count_nonzero(in_box)) - int(area[k:].sum()))


def score_masks(gt: np.ndarray, pred: np.ndarray, bound_th: float = BOUND_TH) -> Scores:
    """J and F of a binary prediction against a binary ground truth (same shape)."""
    gt, pred = np.asarray(gt, dtype=bool), np.asarray(pred, dtype=bool)
    if gt.shape != pred.shape:
        raise ValueError(f"shapes differ: ground truth {gt.shape}, prediction {pred.shape}")
    radius = tolerance_radius(gt.shape, bound_th)
    return score_frame(gt.view(np.uint8), pred.view(np.uint8), [Target(1, 1)], radius).scores[0]


def _nonzero_bbox(gt: np.ndarray, pred: np.ndarray) -> tuple[int, int, int, int] | None:
    """Inclusive (y0, y1, x0, x1) of the pixels non-zero in either image, or None.

    Both images are read 8 pixels to a uint64 word and OR-ed: the first and last non-zero
    words give the rows, and OR-ing the words of the rows between, ``group`` rows (a whole
    number of words) at a time, gives the columns. That is two thirds of the time of
    reductions of the bytes along each axis, which images whose height is not a whole
    number of such groups (or that are not contiguous) still take.
    """
    height, width = gt.shape
    group = 8 // math.gcd(width, 8)
    if height % group or not (gt.flags.c_contiguous and pred.flags.c_contiguous):
        return _nonzero_bbox_of_bytes(gt, pred)
    either = gt.reshape(-1).view("<u8") | pred.reshape(-1).view("<u8")
    flags = (either != 0).tobytes()
    first = flags.find(1)
    if first < 0:
        return None
    last = flags.rfind(1)
    # the first and last non-zero byte of those words (little-endian: byte k is bits 8k..8k+7)
    low, high = int(either[first]), int(either[last])
    y0 = (8 * first + ((low & -low).bit_length() - 1) // 8) // width
    y1 = (8 * last + (high.bit_length() - 1) // 8) // width
    start, end = (y0 - y0 % group) * width // 8, -(-(y1 + 1) // group) * group * width // 8
    columns = np.bitwise_or.reduce(either[start:end].reshape(-1, group * width // 8), axis=0)
    cols = np.flatnonzero(columns.view(np.uint8).reshape(group, width).max(axis=0))
    return y0, y1, int(cols[0]), int(cols[-1])


def _nonzero_bbox_of_bytes(gt: np.ndarray, pred: np.ndarray) -> tuple[int, int, int, int] | None:
    """``_nonzero_bbox`` from row and column maxima of each image (not of ``gt | pred``,
    a frame-sized temporary of bytes)."""
    rows = np.flatnonzero(np.maximum(gt.max(axis=1), pred.max(axis=1)))
    if rows.size == 0:
        return None
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(np.maximum(gt[y0:y1].max(axis=0), pred[y0:y1].max(axis=0)))
    return y0, y1 - 1, int(cols[0]), int(cols[-1])
