"""A run scores itself: J and F of one segmented sequence against the dataset's ground truth.

The evaluator's own per-sequence scoring (``vosbench.eval``) runs on the sequence's
masks while they are still staged, so the scores commit with them. Protocol: ``davis``
for DAVIS-layout datasets, ``youtube`` (objects that start late, sparse ground truth)
for YouTube-VOS and for any video whose objects do not all start at its first
ground-truth frame (LVOS, SA-V). A dataset's own protocol (``vosbench eval --mode``)
is run on the finished predictions. With ``--max-frames`` the sequence is scored as if it ended there.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vosbench.data.submission import sequence_folder
from vosbench.data.video import Video
from vosbench.eval.evaluate import PER_SEQUENCE_COLUMNS, combine
from vosbench.eval.sequence import Mode, SequenceJob, evaluate_sequence

MODES = {"davis": Mode.DAVIS, "youtube": Mode.YOUTUBE}
OBJECT_COLUMNS = ["method", *PER_SEQUENCE_COLUMNS]


def can_score(video: Video) -> bool:
    return video.gt_folder is not None and bool(video.gt_frames)


def self_eval_mode(video: Video, layout: str) -> Mode:
    """``youtube`` for its layout and for late objects: the davis protocol takes every
    object from the first ground-truth frame and rejects predictions of any other."""
    late = video.gt_frames and any(f > video.gt_frames[0] for f in video.info.first_frame.values())
    return Mode.YOUTUBE if late else MODES[layout]


def score_sequence(
    video: Video, label: str, masks_root: Path, layout: str, frames: int
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(per-frame J/F per object, per-object statistics of method ``label``) of the first
    ``frames`` frames, or None when no object has a scored frame among them."""
    mode = self_eval_mode(video, layout)
    names = tuple(video.frame_names[i] for i in video.gt_frames if i < frames)
    if mode is Mode.DAVIS and len(names) < 3:
        return None  # the davis protocol scores the frames between the first and the last
    job = SequenceJob(video.name, video.gt_folder, sequence_folder(masks_root, video.name, layout), names, mode)
    scores = evaluate_sequence(job)
    if not any(obj.frames for obj in scores.objects):
        return None
    result = combine([scores])
    return result.per_frame, objects_table(result.per_sequence.assign(method=label))


def objects_table(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-object statistics in the run's column order and types (empty without ``table``)."""
    table = pd.DataFrame(columns=OBJECT_COLUMNS) if table is None else table[OBJECT_COLUMNS]
    return table.astype({"method": "str", "sequence": "str", "object": "int64"} | {c: "float64" for c in OBJECT_COLUMNS[3:]})
