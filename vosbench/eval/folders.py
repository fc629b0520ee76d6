"""Find the sequences to evaluate and check the folders before any image is decoded.

Layout: ``GT_DIR/<sequence>/<frame>.png`` (e.g. DAVIS ``Annotations/480p``) and
``PRED_DIR/<sequence>/<frame>.png`` with the same frame names. Only ``.png`` files
count as annotations; predictions may hold extra frames, which are ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from vosbench.errors import VosbenchError
from vosbench.eval.boundary import BOUND_TH
from vosbench.eval.sequence import Mode, SequenceJob
from vosbench.masks import read_mask


def read_split(path: str | os.PathLike) -> list[str]:
    """Sequence names from a split file (one per line, as DAVIS ``ImageSets``)."""
    path = Path(path)
    try:
        names = [line.strip() for line in path.read_text().splitlines()]
    except FileNotFoundError:
        raise VosbenchError(f"{path}: split file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise VosbenchError(f"{path}: cannot read the split file ({error})") from None
    names = [n for n in names if n]
    if not names:
        raise VosbenchError(f"{path}: the split file names no sequence")
    return names


def read_pair(gt_path: Path, pred_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Annotation and prediction of one frame, which must exist at one size."""
    if not pred_path.is_file():
        raise VosbenchError(f"{pred_path}: prediction frame missing")
    gt, pred = read_mask(gt_path), read_mask(pred_path)
    if gt.shape != pred.shape:
        raise VosbenchError(
            f"{pred_path}: prediction is {pred.shape[1]}x{pred.shape[0]} but the annotation {gt_path} is "
            f"{gt.shape[1]}x{gt.shape[0]}; predict at the annotation's size"
        )
    return gt, pred


def find_jobs(
    pred_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    sequences: Iterable[str] | None = None,
    mode: Mode = Mode.DAVIS,
    bound_th: float = BOUND_TH,
) -> list[SequenceJob]:
    """One job per sequence, in order, after checking that every file a job will read
    exists. ``sequences`` defaults to the sub-folders of ``gt_dir``, sorted."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    if not gt_dir.is_dir():
        raise VosbenchError(
            f"{gt_dir}: ground-truth folder not found; pass the folder of per-sequence annotation folders "
            "(e.g. DAVIS Annotations/480p)"
        )
    if not pred_dir.is_dir():
        raise VosbenchError(f"{pred_dir}: prediction folder not found; pass the folder of per-sequence mask folders")
    if sequences is None:
        names = sorted(p.name for p in gt_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not names:
            raise VosbenchError(f"{gt_dir}: no sequence folders in the ground-truth folder")
    else:
        names = list(dict.fromkeys(sequences))
        if not names:
            raise VosbenchError("no sequence to evaluate: the sequence list is empty")
    return [_job(name, pred_dir, gt_dir, mode, bound_th) for name in names]


def _job(name: str, pred_dir: Path, gt_dir: Path, mode: Mode, bound_th: float) -> SequenceJob:
    gt_seq, pred_seq = gt_dir / name, pred_dir / name
    if not gt_seq.is_dir():
        raise VosbenchError(f"{gt_seq}: annotation folder of sequence {name} not found")
    frames = tuple(sorted(f[:-4] for f in os.listdir(gt_seq) if f.endswith(".png")))
    if not frames:
        nested = any(p.is_dir() for p in gt_seq.iterdir())
        hint = "; it holds folders: is --gt one level too high (e.g. Annotations instead of Annotations/480p)?"
        raise VosbenchError(f"{gt_seq}: no .png annotations in the folder{hint if nested else ''}")
    if not pred_seq.is_dir():
        raise VosbenchError(f"{pred_seq}: prediction folder of sequence {name} not found")
    job = SequenceJob(name, gt_seq, pred_seq, frames, mode, bound_th)
    present = set(os.listdir(pred_seq))
    for frame in job.predicted_frames:
        if f"{frame}.png" not in present:
            others = sorted(f for f in present if f.rsplit(".", 1)[0] == frame)
            hint = f" (found {others[0]}; masks must be PNG)" if others else ""
            raise VosbenchError(f"{job.pred_path(frame)}: prediction frame missing{hint}")
    return job
