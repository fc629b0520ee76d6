"""LVOS's own protocol, as lvos-evaluation scores the semi-supervised task.

Each object of the meta file is scored over its own frame range only: the frames
``start, start + 5, ...`` up to but *excluding* ``end`` (Python's ``range(start, end,
5)``), less the first of them (where its mask is given). The scores go into an array of
``frame_nums - 2`` slots, slot ``i - 1`` for the ``i``-th frame of the range, and the
``frame_nums - 1``-th frame is skipped too; with the released metas (``frame_nums`` =
annotated frames from ``start`` to ``end``) that scores exactly the frames strictly
between the first and the last, but a meta whose ``frame_nums`` is larger leaves slots
at 0, which the official means count (reproduced here), and one whose ``frame_nums`` is
smaller makes the official code fail (an error here). J and F are davis2017-evaluation's
(``vosbench.eval.frame``); an object absent from a frame of its range is scored there
like any other (J = 1 when the prediction is empty too).

Per object: J-Mean, F-Mean, and V, the spread of per-frame J&F: the population
standard deviation, computed as ``sqrt(round(mean squared deviation, 4))`` (the
official rounds the variance to 4 decimals before the root; reproduced).

Global, as the released ``evaluation_method.py`` writes it: every mean is taken within
the seen and within the unseen videos (``unseen_videos.txt``), and the headline is
``J&F-Mean = (J_seen + F_seen + J_unseen + F_unseen) / 4``, ``J-Mean = (J_seen +
J_unseen) / 2`` and so on: the two categories weigh the same however many objects each
holds, and an empty category makes every headline NaN. The CodaLab script's
``Overall`` is instead ``(mean J + mean F) / 2`` over all objects, and it then fails
on its next line (it divides a string by 2). Both are reported: ``J&F-Mean`` (the
released formula) and ``J&F-objects`` (the per-object mean, what a DAVIS-style
headline would be and what the server's ``Overall`` computes).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from vosbench.data.lvos import FrameRange, read_lvos_meta
from vosbench.errors import VosbenchError
from vosbench.eval.boundary import tolerance_radius
from vosbench.eval.evaluate import EvalResult
from vosbench.eval.folders import read_pair
from vosbench.eval.frame import Target, score_frame

STEP = 5  # the official scorer walks every 5th frame of a range
OBJECT_COLUMNS = ["sequence", "object", "seen", "J-Mean", "F-Mean", "J&F-Mean", "V"]
GLOBAL_COLUMNS = [
    "J&F-Mean", "J&F-objects", "J-Mean", "J-seen-Mean", "J-unseen-Mean", "F-Mean", "F-seen-Mean", "F-unseen-Mean",
    "V-Mean", "V-seen-Mean", "V-unseen-Mean",
]


def scored_slots(frame_range: FrameRange, where: str) -> dict[int, int]:
    """Frame number -> slot in the object's ``frame_nums - 2`` scores, as the official loop fills them."""
    slots = {}
    for i, number in enumerate(range(frame_range.start, frame_range.end, STEP)):
        if i == 0 or i == frame_range.frame_nums - 1:
            continue
        if i - 1 >= frame_range.frame_nums - 2:
            raise VosbenchError(
                f"{where}: frame_nums {frame_range.frame_nums} is too small for frames {frame_range.start}..{frame_range.end} "
                f"every {STEP}; the official scorer fails here (fix the meta file)"
            )
        slots[number] = i - 1
    return slots


def spread(j: np.ndarray, f: np.ndarray) -> float:
    """V of one object: sqrt of the mean squared deviation of J&F, rounded to 4 decimals first."""
    jf = (j + f) / 2
    return math.sqrt(round(float(np.nansum((np.nanmean(jf) - jf) ** 2) / jf.shape[0]), 4))


def evaluate_lvos(
    pred_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    meta: str | os.PathLike,
    unseen: Iterable[str] = (),
    sequences: Iterable[str] | None = None,
) -> EvalResult:
    """LVOS scores of ``pred_dir/<video>/<8-digit frame>.png`` against ``gt_dir`` (the
    split's Annotations), objects and ranges from the ``meta`` JSON; ``unseen``: the
    videos of unseen categories."""
    pred_dir, gt_dir, meta_path = Path(pred_dir), Path(gt_dir), Path(meta)
    videos = read_lvos_meta(meta_path)
    names = sorted(videos) if sequences is None else list(sequences)
    unknown = sorted(set(names) - set(videos))
    if unknown:
        raise VosbenchError(f"{meta_path}: no video {', '.join(unknown)}; it lists {len(videos)}")
    unseen = set(unseen)
    frame_cols: dict[str, list] = {"sequence": [], "object": [], "frame": [], "J": [], "F": []}
    rows = []
    for name in names:
        objects = videos[name]
        slots = {k: scored_slots(r, f"{meta_path} video {name} object {k}") for k, r in objects.items()}
        j = {k: np.zeros(r.frame_nums - 2) for k, r in objects.items()}
        f = {k: np.zeros(r.frame_nums - 2) for k, r in objects.items()}
        for number in sorted(set().union(*slots.values())):
            frame = f"{number:08d}"
            gt_path = gt_dir / name / f"{frame}.png"
            if not gt_path.is_file():
                raise VosbenchError(f"{gt_path}: annotation inside an object's frame range not found")
            gt, pred = read_pair(gt_path, pred_dir / name / f"{frame}.png")
            here = [k for k in objects if number in slots[k]]
            result = score_frame(gt, pred, [Target(k, k) for k in here], tolerance_radius(gt.shape))
            for k, scores in zip(here, result.scores):
                j[k][slots[k][number]], f[k][slots[k][number]] = scores.j, scores.f
                for column, value in zip(frame_cols, (name, k, frame, scores.j, scores.f)):
                    frame_cols[column].append(value)
        for k in objects:
            if j[k].size == 0:
                raise VosbenchError(f"{meta_path}: object {k} of {name} has frame_nums < 3; nothing of its range is scored")
            jm, fm = float(np.nanmean(j[k])), float(np.nanmean(f[k]))
            rows.append([name, k, name not in unseen, jm, fm, (jm + fm) / 2, spread(j[k], f[k])])
    per_object = pd.DataFrame(rows, columns=OBJECT_COLUMNS).astype({"object": "int64", "seen": "bool"})
    return EvalResult.from_frames(pd.DataFrame(frame_cols).astype({"object": "int64"}), per_object, headline(per_object))


def headline(per_object: pd.DataFrame) -> pd.DataFrame:
    """The global row: the released formula over the seen/unseen means, and J&F-objects."""
    def mean(column: str, seen: bool) -> float:
        values = per_object.loc[per_object["seen"] == seen, column].to_numpy(dtype=np.float64)
        return float(np.mean(values)) if values.size else math.nan  # np.mean([]) is the official NaN

    j_s, j_u, f_s, f_u = mean("J-Mean", True), mean("J-Mean", False), mean("F-Mean", True), mean("F-Mean", False)
    v_s, v_u = mean("V", True), mean("V", False)
    j_all = float(np.mean(per_object["J-Mean"].to_numpy(dtype=np.float64)))
    f_all = float(np.mean(per_object["F-Mean"].to_numpy(dtype=np.float64)))
    row = [((j_s + f_s) + (j_u + f_u)) / 4.0, (j_all + f_all) / 2.0, (j_s + j_u) / 2, j_s, j_u, (f_s + f_u) / 2, f_s, f_u,
           (v_s + v_u) / 2, v_s, v_u]
    return pd.DataFrame([row], columns=GLOBAL_COLUMNS)
