"""SA-V's own protocol, as ``sav_dataset/sav_evaluator.py`` (sam2) scores val and test.

Ground truth: ``<gt>/<video>/<object>/<frame>.png``, one binary mask per object and
annotated frame (6 fps of the 24 fps video). Each object is scored on its own
annotated frames less its first and its last. Predictions: the same per-object layout
(what the official reads), or one id mask per frame ``<pred>/<video>/<frame>.png``
(what ``vosbench run`` writes, object folder ``NNN`` = id NNN + 1).

Per frame, the official keeps an object's score only from the first scored frame where
its ground truth *or its prediction* is non-empty (frames before, both empty, are not
counted); J = I / U and F is davis2017-evaluation's (radius ceil(0.008 * diagonal)).
Per object: the means of J and F (the official prints them x100; fractions here). An
object whose ground truth is empty on all its scored frames has no score: the official
stops there with an AssertionError; here it is listed as unscored. Global: plain means
over all objects of all videos, J&F = (J + F) / 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from vosbench.data.files import list_images
from vosbench.data.sav import object_folders
from vosbench.errors import VosbenchError
from vosbench.eval.boundary import tolerance_radius
from vosbench.eval.evaluate import EvalResult
from vosbench.eval.frame import Target, score_frame
from vosbench.masks import read_mask

OBJECT_COLUMNS = ["sequence", "object", "J-Mean", "F-Mean", "J&F-Mean"]


def evaluate_sav(
    pred_dir: str | os.PathLike, gt_dir: str | os.PathLike, sequences: Iterable[str] | None = None
) -> EvalResult:
    """SA-V scores of the predictions in ``pred_dir`` against ``gt_dir`` (``Annotations_6fps``)."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    if not gt_dir.is_dir():
        raise VosbenchError(f"{gt_dir}: ground-truth folder not found; pass sav_<split>/Annotations_6fps")
    names = sorted(p.name for p in gt_dir.iterdir() if p.is_dir()) if sequences is None else list(sequences)
    frame_cols: dict[str, list] = {"sequence": [], "object": [], "frame": [], "J": [], "F": []}
    rows, unscored = [], []
    for name in names:
        if not (pred_dir / name).is_dir():
            raise VosbenchError(f"{pred_dir / name}: prediction folder of {name} not found")
        for object_id, folder in object_folders(gt_dir / name).items():
            j, f, seen_gt = [], [], False
            for path in list_images(folder, (".png",), "object masks")[1:-1]:
                gt, pred = _binary(path), _predicted(pred_dir / name, folder.name, object_id, path.stem)
                if gt.shape != pred.shape:
                    raise VosbenchError(f"{path}: annotation is {gt.shape} but its prediction is {pred.shape}")
                seen_gt |= bool(gt.any())
                if not j and not gt.any() and not pred.any():
                    continue  # not yet in the ground truth or the prediction: the official skips the frame
                scores = score_frame(gt.view(np.uint8), pred.view(np.uint8), [Target(1, 1)], tolerance_radius(gt.shape))
                j.append(scores.scores[0].j)
                f.append(scores.scores[0].f)
                for column, value in zip(frame_cols, (name, object_id, path.stem, j[-1], f[-1])):
                    frame_cols[column].append(value)
            if not seen_gt:
                unscored.append((name, object_id))
                continue
            jm, fm = float(np.mean(j)), float(np.mean(f))
            rows.append([name, object_id, jm, fm, (jm + fm) / 2])
    if not rows:
        raise VosbenchError(f"{gt_dir}: no object has ground truth on a scored frame; nothing to evaluate")
    per_object = pd.DataFrame(rows, columns=OBJECT_COLUMNS).astype({"object": "int64"})
    j_all = float(np.array(per_object["J-Mean"], dtype=np.float64).mean())
    f_all = float(np.array(per_object["F-Mean"], dtype=np.float64).mean())
    global_ = pd.DataFrame([[(j_all + f_all) / 2, j_all, f_all]], columns=["J&F-Mean", "J-Mean", "F-Mean"])
    per_frame = pd.DataFrame(frame_cols).astype({"object": "int64"})
    return EvalResult.from_frames(per_frame, per_object, global_, unscored)


def _binary(path: Path) -> np.ndarray:
    mask = read_mask(path)
    if np.count_nonzero(np.bincount(mask.ravel(), minlength=256)) > 2:
        raise VosbenchError(f"{path}: a per-object mask holds more than one object value; SA-V stores one object per file")
    return mask > 0


def _predicted(video_dir: Path, folder: str, object_id: int, frame: str) -> np.ndarray:
    """The object's predicted mask: its own folder's file, else its id in the frame's id mask."""
    own, shared = video_dir / folder / f"{frame}.png", video_dir / f"{frame}.png"
    if own.is_file():
        return _binary(own)
    if shared.is_file():
        return read_mask(shared) == object_id
    raise VosbenchError(f"{own}: prediction frame missing (nor {shared.name} with every object in {video_dir})")
