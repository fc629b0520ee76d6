"""Score one sequence: which objects, which frames, and J and F of each.

Two protocols (``Mode``):

- ``davis`` (davis2017-evaluation's semi-supervised task): the objects are the ids
  present in the first ground-truth frame (the reference takes 1 .. its largest id:
  the same on DAVIS, whose ids are consecutive); every object is scored on every
  ground-truth frame except the first (where its mask is given) and the last.
- ``youtube`` (objects appear later, ids need not be consecutive, ground truth may be
  sparse): the objects are all ids found in any ground-truth frame; each object is
  scored on every ground-truth frame *after* the one where it first appears (that mask
  is given to the method, so scoring it would measure copying), the last frame
  included (with sparse annotation it is a real, unseen frame). Predicted pixels of an
  object before that first frame are not scored.
  vos-benchmark differs on purpose: it scores an object from the first frame where the
  ground truth *or the prediction* shows it (the given mask included) and drops the
  sequence's first and last ground-truth frames.

Ground-truth values: 0 is background. A sequence whose first non-empty ground-truth
frame holds only 0 and 255 (DAVIS 2016 style) has one object, id 1, drawn as 255 in
every frame. Otherwise 255 is void and counts as background, as in the reference.
Predictions hold object ids; an id that is not an object of the sequence is an error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vosbench.errors import VosbenchError
from vosbench.eval.boundary import BOUND_TH, tolerance_radius
from vosbench.eval.frame import Scores, Target, score_frame
from vosbench.masks import read_mask

VOID = 255


class Mode(str, enum.Enum):
    """Which frames are scored for which objects (see the module docstring)."""

    DAVIS = "davis"
    YOUTUBE = "youtube"


@dataclass(frozen=True)
class SequenceJob:
    """Everything needed to score one sequence; small, so it travels to workers."""

    name: str
    gt_dir: Path
    pred_dir: Path
    frames: tuple[str, ...]  # ground-truth frame names (file stems), in order
    mode: Mode = Mode.DAVIS
    bound_th: float = BOUND_TH

    def gt_path(self, frame: str) -> Path:
        return self.gt_dir / f"{frame}.png"

    def pred_path(self, frame: str) -> Path:
        return self.pred_dir / f"{frame}.png"

    @property
    def predicted_frames(self) -> tuple[str, ...]:
        """Frames whose prediction may be scored, hence must exist."""
        return self.frames[1:-1] if self.mode is Mode.DAVIS else self.frames[1:]


@dataclass
class ObjectScores:
    """Per-frame J and F of one object, in frame order."""

    object_id: int
    frames: list[str] = field(default_factory=list)
    j: list[float] = field(default_factory=list)
    f: list[float] = field(default_factory=list)

    def add(self, frame: str, scores: Scores) -> None:
        self.frames.append(frame)
        self.j.append(scores.j)
        self.f.append(scores.f)


@dataclass
class SequenceScores:
    name: str
    objects: list[ObjectScores]  # in object-id order, including objects never scored


def evaluate_sequence(job: SequenceJob) -> SequenceScores:
    """Score every object of one sequence on its scored frames."""
    if job.mode is Mode.DAVIS and len(job.frames) < 3:
        raise VosbenchError(
            f"{job.gt_dir}: {len(job.frames)} annotation frame(s); the davis protocol scores the frames "
            "between the first and the last, so it needs at least 3 (use --mode youtube for sparse annotations)"
        )
    return _Scorer(job).run()


class _Scorer:
    """Walks the ground-truth frames once, in order, keeping only the current frame."""

    def __init__(self, job: SequenceJob):
        self.job = job
        self.binary: bool | None = None  # decided by the first non-empty GT frame
        self.first_seen: dict[int, int] = {}  # object id -> index of its first GT frame
        self.scores: dict[int, ObjectScores] = {}
        self.not_yet_objects: dict[int, Path] = {}  # predicted id -> first file, to check at the end

    def run(self) -> SequenceScores:
        job = self.job
        # the davis protocol never looks at the last annotation frame
        frames = job.frames[:-1] if job.mode is Mode.DAVIS else job.frames
        for index, frame in enumerate(frames):
            gt = read_mask(job.gt_path(frame))
            if job.mode is Mode.YOUTUBE or index == 0:
                self._register_objects(gt, index, frame)
            if index == 0:
                continue
            scored = sorted(i for i, first in self.first_seen.items() if first < index)
            if scored:
                self._score(frame, gt, scored)
        if self.not_yet_objects:
            unknown = sorted(set(self.not_yet_objects) - set(self.first_seen))
            if unknown:
                self._unknown_ids(self.not_yet_objects[unknown[0]], unknown)
        return SequenceScores(job.name, [self.scores.get(i, ObjectScores(i)) for i in sorted(self.first_seen)])

    def _register_objects(self, gt: np.ndarray, index: int, frame: str) -> None:
        values = _values(gt)
        if self.binary is None and values:
            self.binary = set(values) <= {VOID}
        if self.binary:
            others = [v for v in values if v != VOID]
            if others:
                raise VosbenchError(
                    f"{self.job.gt_path(frame)}: holds ids {others} but earlier frames of this sequence mark "
                    "the object with 255 (0/255 masks); use one encoding for the whole sequence"
                )
            ids = [1] if values else []
        else:
            ids = [v for v in values if v != VOID]
        if index == 0 and self.job.mode is Mode.DAVIS and not ids:
            raise VosbenchError(
                f"{self.job.gt_path(frame)}: the first annotation frame holds no object; the davis protocol "
                "takes its objects from it (use --mode youtube for objects that appear later)"
            )
        for object_id in ids:
            self.first_seen.setdefault(object_id, index)

    def _score(self, frame: str, gt: np.ndarray, scored: list[int]) -> None:
        pred_path = self.job.pred_path(frame)
        pred = read_mask(pred_path)
        if pred.shape != gt.shape:
            raise VosbenchError(
                f"{pred_path}: prediction is {pred.shape[1]}x{pred.shape[0]} but the annotation "
                f"{self.job.gt_path(frame)} is {gt.shape[1]}x{gt.shape[0]}; predict at the annotation's size"
            )
        targets = [Target(VOID if self.binary else i, i) for i in scored]
        result = score_frame(gt, pred, targets, tolerance_radius(gt.shape, self.job.bound_th))
        if result.unclaimed:  # some predicted pixels are no scored object: find out which
            self._check_predicted_ids(pred, pred_path)
        for object_id, scores in zip(scored, result.scores):
            self.scores.setdefault(object_id, ObjectScores(object_id)).add(frame, scores)

    def _check_predicted_ids(self, pred: np.ndarray, path: Path) -> None:
        extra = [v for v in _values(pred) if v not in self.first_seen]
        if not extra:
            return  # ids of objects already known, outside their scored frames
        if self.job.mode is Mode.DAVIS:
            self._unknown_ids(path, extra)
        for value in extra:  # youtube: may still appear in a later annotation frame
            self.not_yet_objects.setdefault(value, path)

    def _unknown_ids(self, path: Path, ids: list[int]) -> None:
        known = sorted(self.first_seen)
        raise VosbenchError(
            f"{path}: holds object ids {ids} that are not objects of sequence {self.job.name} "
            f"(ground truth has {known}); predictions must use the annotation's object ids"
        )


def _values(mask: np.ndarray) -> list[int]:
    """The non-zero values present in a uint8 mask, ascending."""
    counts = np.bincount(mask.ravel(), minlength=256)
    return [int(v) for v in np.flatnonzero(counts[1:]) + 1]
