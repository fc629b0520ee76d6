"""Evaluate a folder of predictions: score sequences in worker processes, then combine.

A sequence is scored on its own (``sequence.evaluate_sequence``); the combination is
davis2017-evaluation's: per object, mean / recall / decay of J and of F over its scored
frames; globally, the plain mean of each statistic over all sequence-objects, and
J&F-Mean = (J-Mean + F-Mean) / 2.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import numpy as np

from vosbench.atomic import atomic_dir
from vosbench.errors import VosbenchError
from vosbench.eval import tables
from vosbench.eval.boundary import BOUND_TH
from vosbench.eval.folders import find_jobs
from vosbench.eval.sequence import Mode, SequenceJob, SequenceScores, evaluate_sequence
from vosbench.eval.statistics import summarize
from vosbench.eval.tables import Columns

if TYPE_CHECKING:
    import pandas as pd

PER_SEQUENCE_COLUMNS = ["sequence", "object", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]
GLOBAL_COLUMNS = ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]
TABLES = ("per_frame", "per_sequence", "global")
OUTPUT_FILES = frozenset(f"{t}.{ext}" for t in TABLES for ext in ("csv", "parquet"))


@dataclass(frozen=True, eq=False)
class EvalResult:
    """Tidy tables: one row per (sequence, object, frame), per (sequence, object), and
    the global row. ``unscored`` lists (sequence, object) pairs with no scored frame
    (youtube mode: an object first annotated on the last frame); they are left out.

    ``columns`` holds each table (``TABLES``) as plain columns (``vosbench.eval.tables``);
    ``per_frame``, ``per_sequence`` and ``global_`` are DataFrames built from them on
    first access, so that scoring and writing never import pandas.
    """

    columns: dict[str, Columns]
    unscored: tuple[tuple[str, int], ...] = ()
    _frames: dict[str, "pd.DataFrame"] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if tuple(self.columns) != TABLES:
            raise ValueError(f"EvalResult needs the tables {TABLES}, in order; got {tuple(self.columns)}")
        for name, columns in self.columns.items():
            tables.check(columns, name)

    @classmethod
    def from_frames(
        cls, per_frame: "pd.DataFrame", per_sequence: "pd.DataFrame", global_: "pd.DataFrame", unscored: Iterable = ()
    ) -> "EvalResult":
        """From tables built with pandas (the lvos, mose2 and sav protocols)."""
        frames = (per_frame, per_sequence, global_)
        return cls({name: tables.from_frame(frame) for name, frame in zip(TABLES, frames)}, tuple(unscored))

    def _frame(self, name: str) -> "pd.DataFrame":
        if name not in self._frames:
            self._frames[name] = tables.to_frame(self.columns[name])
        return self._frames[name]

    @property
    def per_frame(self) -> "pd.DataFrame":
        return self._frame("per_frame")

    @property
    def per_sequence(self) -> "pd.DataFrame":
        return self._frame("per_sequence")

    @property
    def global_(self) -> "pd.DataFrame":
        return self._frame("global")

    def tables(self) -> dict[str, "pd.DataFrame"]:
        return {name: self._frame(name) for name in TABLES}

    def write(self, out_dir: str | os.PathLike) -> Path:
        """Write every table as CSV (floats at full, round-trip precision) and Parquet.

        All six files appear together or not at all. An existing ``out_dir`` is replaced
        only when it holds nothing but a previous evaluation's files.
        """
        out_dir = Path(out_dir)
        if out_dir.exists():
            if not out_dir.is_dir():
                raise VosbenchError(f"{out_dir}: exists and is not a folder; choose another --out")
            foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in OUTPUT_FILES)
            if foreign:
                raise VosbenchError(
                    f"{out_dir}: holds other files ({', '.join(foreign[:3])}); choose an empty or new --out folder"
                )
        with atomic_dir(out_dir) as tmp:
            for name, columns in self.columns.items():
                tables.write_csv(columns, tmp / f"{name}.csv")
                tables.write_parquet(columns, tmp / f"{name}.parquet")
        return out_dir


def evaluate(
    pred_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    *,
    sequences: Iterable[str] | None = None,
    mode: Mode | str = Mode.DAVIS,
    workers: int | None = None,
    bound_th: float = BOUND_TH,
    progress: bool = False,
) -> EvalResult:
    """J and F of the predictions in ``pred_dir`` against the annotations in ``gt_dir``.

    ``sequences``: names to evaluate (default: every sub-folder of ``gt_dir``).
    ``mode``: ``davis`` or ``youtube`` (see ``vosbench.eval.sequence``).
    ``workers``: processes scoring sequences in parallel (default: the usable cores).
    Raises ``VosbenchError`` (one line naming the file) on any bad input.
    """
    try:
        mode = Mode(mode)
    except ValueError:
        raise VosbenchError(f"unknown mode {mode!r}; choose one of {[m.value for m in Mode]}") from None
    jobs = find_jobs(pred_dir, gt_dir, sequences, mode, bound_th)
    scores = _run(jobs, workers if workers is not None else default_workers(), progress)
    return combine(scores)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def combine(sequences: list[SequenceScores]) -> EvalResult:
    """The three tables from per-sequence scores (in the order given)."""
    frame_cols: dict[str, list] = {"sequence": [], "object": [], "frame": [], "J": [], "F": []}
    stats: list[list] = []
    unscored: list[tuple[str, int]] = []
    for seq in sequences:
        for obj in seq.objects:
            if not obj.frames:
                unscored.append((seq.name, obj.object_id))
                continue
            n = len(obj.frames)
            frame_cols["sequence"] += [seq.name] * n
            frame_cols["object"] += [obj.object_id] * n
            frame_cols["frame"] += obj.frames
            frame_cols["J"] += obj.j
            frame_cols["F"] += obj.f
            stats.append([seq.name, obj.object_id, *summarize(np.array(obj.j)), *summarize(np.array(obj.f))])
    if not stats:
        raise VosbenchError("no object has a scored frame; nothing to evaluate")
    per_frame = {
        "sequence": tables.strings(frame_cols["sequence"]),
        "object": np.array(frame_cols["object"], dtype=np.int64),
        "frame": tables.strings(frame_cols["frame"]),
        "J": np.array(frame_cols["J"], dtype=np.float64),
        "F": np.array(frame_cols["F"], dtype=np.float64),
    }
    by_column = list(zip(*stats))
    per_sequence = {
        "sequence": tables.strings(by_column[0]),
        "object": np.array(by_column[1], dtype=np.int64),
        **{c: np.array(v, dtype=np.float64) for c, v in zip(PER_SEQUENCE_COLUMNS[2:], by_column[2:])},
    }
    # np.mean over the column, as the reference averages its lists (pairwise summation)
    means = {c: float(np.mean(per_sequence[c])) for c in PER_SEQUENCE_COLUMNS[2:]}
    overall = {"J&F-Mean": (means["J-Mean"] + means["F-Mean"]) / 2.0, **means}
    global_ = {c: np.array([overall[c]], dtype=np.float64) for c in GLOBAL_COLUMNS}
    return EvalResult({"per_frame": per_frame, "per_sequence": per_sequence, "global": global_}, tuple(unscored))


def _run(jobs: list[SequenceJob], workers: int, progress: bool) -> list[SequenceScores]:
    """Score the jobs, in parallel when ``workers`` > 1; results in job order.

    A ``VosbenchError`` raised in a worker comes back pickled and is raised here, so it
    still reaches the user as its one line.
    """
    workers = max(1, min(workers, len(jobs)))
    if workers == 1:
        with _progress(len(jobs), progress) as advance:
            results = []
            for job in jobs:
                results.append(evaluate_sequence(job))
                advance()
        return results
    # fork: workers inherit the imported modules instead of importing them again
    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    executor = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)
    try:
        # longest first, so no worker is left alone with a long sequence at the end;
        # the first submit forks the workers, before the progress bar starts its thread
        order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i].frames))
        futures = {executor.submit(evaluate_sequence, jobs[i]): i for i in order}
        by_index: dict[int, SequenceScores] = {}
        with _progress(len(jobs), progress) as advance:
            for future in concurrent.futures.as_completed(futures):
                by_index[futures[future]] = future.result()
                advance()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return [by_index[i] for i in range(len(jobs))]


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """A rich progress bar on stderr counting finished sequences; yields ``advance``.
    Without a terminal there is none, and rich is not imported."""
    if not enabled or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TextColumn("sequences"), TimeElapsedColumn())
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("eval", total=total)
        yield lambda: bar.advance(task)
