"""MOSE v2's own protocol, as its ``score.py`` (with ``metricsv2.py``) scores a split.

Frames: a video's annotation frames in numeric order, less the first and the last
(the official takes the names from the prediction folder; the same when it holds
exactly the annotated frames). Objects: every object of ``meta.json`` (or, without
it, every id in the video's annotations), scored on *every* such frame, present or
not; there is no void.

Per frame and object:

- J = (I + 1) / (U + 1), clipped to [0, 1] (1 when both masks are empty).
- F (``F``) and the area-adaptive F (``F_new``), both davis2017-evaluation's boundary
  measure with a dilation radius chosen per frame: with d the image diagonal
  (``hypot(H, W)``) and A the object's ground-truth area, the adaptive radius is
  ``min(0.008 d, ceil(0.1 sqrt(A)))`` (``ceil(0.1 d)`` when A = 0). When that is below
  0.008 d, F uses the usual ``ceil(0.008 d)`` and F_new the adaptive radius; otherwise
  both use 0.008 d itself, *not rounded*. skimage's ``disk`` of a fractional radius r
  is a ``len(arange(-r, r + 1))`` square holding the points of ``arange(-r, r + 1)``
  within r, and cv2 anchors it at its middle cell, so that disk sits off centre
  (towards the bottom right by r's fraction); this is reproduced exactly
  (``disk_offsets``). On large objects and empty frames the "usual" F is therefore not
  davis2017-evaluation's.

Per object: J, F_new and F are means over its frames; the disappearance and
reappearance scores look at where its ground truth is empty. A disappearance starts at
a frame that is empty after a non-empty one (and at the first frame when that is
empty) and lasts to the next reappearance; a reappearance starts at a non-empty frame
after an empty one and lasts to the next disappearance. ``disappear_J``/``_F`` average
the segment means of J and F_new over the disappearances, *except one starting at the
first frame*; ``reappear_*`` over the reappearances; none: NaN (the official None).
An object of a video with fewer than 3 frames scores 0 (the official's empty result).

Global: plain means over objects (``disappear``/``reappear`` over the objects that have
one): ``J&F_new = (J + F_new) / 2`` is the headline, ``J&F = (J + F) / 2``. The official
prints them x100 rounded to 2 decimals; the tables here keep full precision.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from vosbench.data.files import read_json
from vosbench.errors import VosbenchError
from vosbench.eval.boundary import f_from_counts, seg2bmap
from vosbench.eval.evaluate import EvalResult
from vosbench.eval.folders import read_pair
from vosbench.masks import read_mask

BOUND_TH = 0.008  # the usual tolerance, a fraction of the diagonal
ADAPTIVE_TH = 0.1  # score.py's bound_th for the area mode, a fraction of sqrt(area)
OBJECT_COLUMNS = ["sequence", "object", "J", "F_new", "F", "J&F_new", "J&F",
                  "disappear_J", "disappear_F_new", "reappear_J", "reappear_F_new"]
GLOBAL_COLUMNS = ["J&F_new", "J", "F_new", "disappear_J&F_new", "reappear_J&F_new", "F", "J&F"]


@lru_cache(maxsize=None)
def disk_offsets(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(dy, dx) of the cells of skimage's ``disk(radius)`` relative to cv2's anchor (the
    middle cell, index size // 2), for any radius, fractional included."""
    steps = np.arange(-radius, radius + 1)
    inside = steps[None, :] ** 2 + steps[:, None] ** 2 <= radius**2
    rows, cols = np.nonzero(inside)
    anchor = len(steps) // 2
    return rows - anchor, cols - anchor


def matched(points: tuple[np.ndarray, np.ndarray], other: np.ndarray, radius: float) -> int:
    """How many boundary ``points`` (rows, cols) have a pixel of the ``other`` boundary at
    one of the disk's offsets: the points kept by ``points * cv2.dilate(other, disk)``."""
    dy, dx = disk_offsets(radius)
    pad = int(max(np.abs(dy).max(), np.abs(dx).max()))
    padded = np.pad(other, pad)
    hit = np.zeros(points[0].size, dtype=bool)
    for y, x in zip(dy.tolist(), dx.tolist()):
        hit |= padded[points[0] + pad + y, points[1] + pad + x]
    return int(np.count_nonzero(hit))


def boundary_f(gt: np.ndarray, pred: np.ndarray, radius: float) -> float:
    """davis2017-evaluation's F with skimage's disk of ``radius`` (any float) under cv2's dilation."""
    gt_edge, pred_edge = seg2bmap(gt), seg2bmap(pred)
    gt_points, pred_points = np.nonzero(gt_edge), np.nonzero(pred_edge)
    return f_from_counts(
        pred_points[0].size, gt_points[0].size, matched(pred_points, gt_edge, radius), matched(gt_points, pred_edge, radius)
    )


def frame_scores(gt: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """(J, F, F_new) of one object's binary masks in one frame."""
    intersection = int(np.count_nonzero(gt & pred))
    union = int(np.count_nonzero(gt | pred))
    j = 1.0 if union == 0 else min(max((intersection + 1) / (union + 1), 0.0), 1.0)
    usual = BOUND_TH * math.sqrt(float(gt.shape[0] ** 2 + gt.shape[1] ** 2))  # np.linalg.norm's value
    area = int(np.count_nonzero(gt))
    if area:
        adaptive = float(math.ceil(ADAPTIVE_TH * math.sqrt(area)))
    else:
        adaptive = float(math.ceil(ADAPTIVE_TH * math.sqrt(float(gt.shape[0] ** 2 + gt.shape[1] ** 2))))
    adaptive = min(usual, adaptive)
    if adaptive < usual:
        return j, boundary_f(gt, pred, float(math.ceil(usual))), boundary_f(gt, pred, adaptive)
    f = boundary_f(gt, pred, usual)
    return j, f, f


def segments(empty: np.ndarray) -> tuple[list[slice], list[slice]]:
    """(disappearances, reappearances) of one object, as frame slices (see the module doc)."""
    n = len(empty)
    gone = [i for i in range(1, n) if empty[i] and not empty[i - 1]]
    if n and empty[0]:
        gone.insert(0, 0)
    back = [i for i in range(1, n) if not empty[i] and empty[i - 1]]
    disappear = [slice(s, back[k] if k < len(back) else n) for k, s in enumerate(gone) if s > 0]
    reappear = [slice(s, gone[k + 1] if k + 1 < len(gone) else n) for k, s in enumerate(back)]
    return disappear, reappear


def segment_means(values: np.ndarray, parts: list[slice]) -> float:
    return float(np.mean([values[p].mean() for p in parts])) if parts else math.nan


def read_meta(path: Path) -> dict[str, tuple[int, list[int]]]:
    """video -> (length, object ids) from a MOSE v2 ``meta.json``."""
    return read_json(
        path,
        "MOSE v2 meta.json",
        lambda data: {str(v): (int(e["length"]), [int(k) for k in e["objects"]]) for v, e in data["videos"].items()},
        '{"videos": {video: {"length": N, "objects": {"<id>": ...}}}}',
    )


def evaluate_mose2(
    pred_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    meta: str | os.PathLike | None = None,
    sequences: Iterable[str] | None = None,
) -> EvalResult:
    """MOSE v2 scores of ``pred_dir/<video>/<frame>.png`` against ``gt_dir/<video>``."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    if not gt_dir.is_dir():
        raise VosbenchError(f"{gt_dir}: ground-truth folder not found; pass the split's Annotations folder")
    videos = read_meta(Path(meta)) if meta is not None else None
    names = sorted(p.name for p in gt_dir.iterdir() if p.is_dir()) if sequences is None else list(sequences)
    frame_cols: dict[str, list] = {"sequence": [], "object": [], "frame": [], "J": [], "F_new": [], "F": []}
    rows = []
    for name in names:
        folder = gt_dir / name
        if not folder.is_dir():
            raise VosbenchError(f"{folder}: annotation folder of {name} not found")
        frames = sorted((p.stem for p in folder.glob("*.png")), key=_number)
        if videos is not None:
            if name not in videos:
                raise VosbenchError(f"{meta}: no video {name}")
            length, objects = videos[name]
            if length != len(frames):
                raise VosbenchError(f"{folder}: {len(frames)} annotations but {meta} gives length {length}")
        else:
            objects = sorted({int(v) for frame in frames for v in np.unique(read_mask(folder / f"{frame}.png")) if v})
        scored = frames[1:-1]
        j = np.zeros((len(objects), len(scored)))
        f, f_new, empty = np.zeros_like(j), np.zeros_like(j), np.zeros_like(j, dtype=bool)
        for t, frame in enumerate(scored):
            gt, pred = read_pair(folder / f"{frame}.png", pred_dir / name / f"{frame}.png")
            for i, k in enumerate(objects):
                gt_k, pred_k = gt == k, pred == k
                j[i, t], f[i, t], f_new[i, t] = frame_scores(gt_k, pred_k)
                empty[i, t] = not gt_k.any()
                for column, value in zip(frame_cols, (name, k, frame, j[i, t], f_new[i, t], f[i, t])):
                    frame_cols[column].append(value)
        for i, k in enumerate(objects):
            if not scored:  # the official's result for an object without frames
                rows.append([name, k, 0.0, 0.0, 0.0, 0.0, 0.0, math.nan, math.nan, math.nan, math.nan])
                continue
            gone, back = segments(empty[i])
            jm, fm, fm_new = j[i].mean(), f[i].mean(), f_new[i].mean()
            rows.append([name, k, jm, fm_new, fm, (jm + fm_new) / 2, (jm + fm) / 2,
                         segment_means(j[i], gone), segment_means(f_new[i], gone),
                         segment_means(j[i], back), segment_means(f_new[i], back)])
    per_object = pd.DataFrame(rows, columns=OBJECT_COLUMNS).astype({"object": "int64"})
    if per_object.empty:
        raise VosbenchError(f"{gt_dir}: no object to score")
    return EvalResult.from_frames(pd.DataFrame(frame_cols).astype({"object": "int64"}), per_object, headline(per_object))


def headline(per_object: pd.DataFrame) -> pd.DataFrame:
    def mean(column: str) -> float:
        values = per_object[column].dropna().to_numpy(dtype=np.float64)
        return float(np.mean(values)) if values.size else math.nan

    j, f_new, f = mean("J"), mean("F_new"), mean("F")
    row = [(j + f_new) / 2, j, f_new, (mean("disappear_J") + mean("disappear_F_new")) / 2,
           (mean("reappear_J") + mean("reappear_F_new")) / 2, f, (j + f) / 2]
    return pd.DataFrame([row], columns=GLOBAL_COLUMNS)


def _number(stem: str) -> int:
    try:
        return int(stem)
    except ValueError:
        raise VosbenchError(f"{stem}.png: MOSE frames are named by their number; rename or remove this file") from None
