"""Region similarity J (the Jaccard index), as davis2017-evaluation's ``db_eval_iou``."""

from __future__ import annotations

import numpy as np


def jaccard_from_counts(intersection: int, union: int) -> float:
    """|gt & pred| / |gt | pred|; 1 when both masks are empty (the reference's rule)."""
    if union == 0:
        return 1.0
    return intersection / union


def jaccard(gt: np.ndarray, pred: np.ndarray) -> float:
    """J of a binary prediction against a binary ground truth (same shape)."""
    gt, pred = np.asarray(gt, dtype=bool), np.asarray(pred, dtype=bool)
    if gt.shape != pred.shape:
        raise ValueError(f"shapes differ: ground truth {gt.shape}, prediction {pred.shape}")
    return jaccard_from_counts(int(np.count_nonzero(gt & pred)), int(np.count_nonzero(gt | pred)))
