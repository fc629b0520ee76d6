"""Run methods over a dataset into a run directory, one committed sequence at a time.

The driver (``run``) holds the run directory's lock, checks or writes the manifest, and
hands the (method label, sequence) pairs not yet finished, grouped into tasks, to an
executor (``vosbench.executors``: in this process, or Ray workers). A task
(``run_task``), wherever it runs, does for each of its sequences: set torch's seed,
segment frame by frame under the telemetry probe, write masks (and probabilities) into
the staging area, score the sequence against the ground truth when the dataset has it,
then commit masks, probabilities and records together (``vosbench.run.store``). Tasks
commit distinct pairs, so several can write one run directory at once. The driver ends
by rebuilding the run's tables. A rerun of the same command skips finished sequences.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import torch

from vosbench.data import Dataset
from vosbench.data.submission import write_sequence, zip_youtube
from vosbench.data.video import Video
from vosbench.engine import frames_to_run, labels_of, segment
from vosbench.errors import VosbenchError
from vosbench.executors import Executor, InProcess, Task, TaskResult, plan_tasks
from vosbench.probs import write_probs
from vosbench.run import store
from vosbench.run.config import RunConfig, checkpoint_paths
from vosbench.run.progress import RunProgress
from vosbench.run.records import frame_row, frames_table, join_scores
from vosbench.run.selfeval import can_score, objects_table, score_sequence
from vosbench.run.tables import build_tables, write_tables
from vosbench.telemetry import Probe, HostProbe, probe_for
from vosbench.telemetry.environment import environment


@dataclass
class RunReport:
    """What one invocation did: (method label, sequence) pairs segmented and skipped."""

    root: Path
    segmented: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def run(
    config: RunConfig,
    dataset: Dataset,
    out: str | Path,
    *,
    overwrite: bool = False,
    progress: RunProgress | None = None,
    command: Sequence[str] | None = None,
    executor: Executor | None = None,
) -> RunReport:
    """Segment every planned sequence of ``dataset`` with every method of ``config`` into ``out``.

    ``overwrite`` redoes finished sequences. A run directory made with other settings
    raises ``VosbenchError`` naming the first differences. ``executor`` runs the tasks
    (default: in this process); tasks that fail for good raise ``VosbenchError`` once
    every other task has finished, their committed sequences kept.
    """
    out = Path(out)
    progress = progress or RunProgress()
    executor = executor or InProcess()
    selection = list(dataset.sequences)
    sequences = config.shard.pick(selection) if config.shard else selection
    if not sequences:
        raise VosbenchError(f"shard {config.shard} of {len(selection)} sequences is empty; use fewer shards")
    # absolute: tasks on other machines start in other folders
    layout = store.Layout(out.absolute(), nested=len(config.methods) > 1, prediction_layout=dataset.prediction_layout)
    if out.exists() and not out.is_dir():
        raise VosbenchError(f"{out}: exists and is not a folder; choose another --out")
    # before anything is written: hashing the checkpoints finds missing ones, building
    # each method once finds bad settings and checkpoints that do not fit
    identity = config.identity({"name": dataset.name, "layout": dataset.prediction_layout, "sequences": selection})
    for choice in config.methods:
        choice.build("cpu", config.dtype)
    for name in sequences:  # each video's folders and given masks (a second of work on DAVIS)
        dataset.video(name).info
    report = RunReport(out)
    before = store.entries(out)
    with store.locked(out), store.undone_if_failed(out, before):
        manifest = _open_manifest(out, identity, config, dataset, sequences, layout, command, executor.describe())
        store.clear_staging(out)
        pairs = store.planned_pairs(manifest)
        todo = [p for p in pairs if overwrite or not layout.is_done(*p)]
        report.skipped = [p for p in pairs if p not in todo]
        progress.plan(len(pairs), len(report.skipped))
        if todo:
            store.remove_tables(out)
        tasks = plan_tasks(todo, executor.sequences_per_task)
        results: list[TaskResult] = []
        try:
            failures = executor.run(partial(run_task, Job(config, dataset, layout, overwrite)), tasks, progress, results.append)
        finally:
            _record_tasks(manifest["sessions"][-1], results)
            store.write_manifest(out, manifest)
        store.clear_staging(out)  # every task has ended: what is staged is a dead attempt's
        report.segmented = [p for p in todo if layout.is_done(*p)]
        if failures:
            first = min(failures, key=lambda failure: tasks.index(failure.task))  # in run order, not finishing order
            raise VosbenchError(
                f"{len(failures)} of {len(tasks)} task(s) failed, the first {first.task}: {first.message}; "
                "finished sequences are kept, rerun the same command to redo the rest"
            )
        write_tables(out, build_tables(layout, manifest))
        if layout.prediction_layout == "youtube" and config.shard is None and all(layout.is_done(*p) for p in pairs):
            zip_submissions(layout, manifest)
    return report


@dataclass(frozen=True)
class Job:
    """What every task of a run needs, sent to wherever it runs (picklable)."""

    config: RunConfig
    dataset: Dataset
    layout: store.Layout
    overwrite: bool = False


def run_task(job: Job, task: Task, progress: RunProgress | None = None) -> TaskResult:
    """Segment ``task``'s sequences with its method, committing each into the run
    directory when done; a sequence already finished there is skipped (unless
    ``job.overwrite``), so a retried task does only what its dead attempt left."""
    progress = progress or RunProgress()
    config = job.config
    choice = next(m for m in config.methods if m.label == task.label)
    segmented = []
    method = None
    with probe_for(config.device, config.telemetry) as probe:
        for name in task.sequences:
            if not job.overwrite and job.layout.is_done(task.label, name):
                continue
            if method is None:
                method = choice.build(config.device, config.dtype)
            video = job.dataset.video(name)
            with store.staged_sequence(job.layout, task.label, name) as staged:
                _run_sequence(method, task.label, video, config, probe, staged, job.layout.prediction_layout, progress)
            segmented.append(name)
            progress.sequence_done()
        worker = {"host": socket.gethostname(), "pid": os.getpid(), "telemetry": probe.describe(), "environment": environment()}
    return TaskResult(task, tuple(segmented), worker)


def _record_tasks(session: dict[str, Any], results: list[TaskResult]) -> None:
    """The session's ``tasks`` (label, sequences, those segmented, worker) and
    ``workers`` (telemetry, and the environment of a worker other than this process);
    ``telemetry`` as well when every worker describes it alike."""
    here = f"{socket.gethostname()}:{os.getpid()}"
    workers: dict[str, Any] = {}
    for result in results:
        entry = {"telemetry": result.worker["telemetry"]}
        if result.worker_id != here:
            entry["environment"] = result.worker["environment"]
        workers.setdefault(result.worker_id, entry)
    session["tasks"] = [
        {"label": r.task.label, "sequences": list(r.task.sequences), "segmented": list(r.segmented), "worker": r.worker_id}
        for r in results
    ]
    session["workers"] = workers
    described = [entry["telemetry"] for entry in workers.values()]
    if described and all(d == described[0] for d in described):
        session["telemetry"] = described[0]


def _open_manifest(
    out: Path,
    identity: dict[str, Any],
    config: RunConfig,
    dataset: Dataset,
    sequences: list[str],
    layout: store.Layout,
    command: Sequence[str] | None,
    executor: dict[str, Any],
) -> dict[str, Any]:
    """The existing manifest checked against ``identity``, or a new one; this session appended."""
    manifest = store.read_manifest(out)
    if manifest is None:
        if out.is_dir() and any(p.name != store.LOCK for p in out.iterdir()):
            raise VosbenchError(f"{out}: not empty and not a run directory (no manifest.json); choose a new or empty --out")
        manifest = {
            "format": 1,
            "config": identity,
            "dataset": {
                "name": dataset.name,
                "class": type(dataset).__name__,
                "root": str(Path(getattr(dataset, "root", "")).resolve()) if getattr(dataset, "root", None) else None,
                "layout": dataset.prediction_layout,
                "self_evaluation": "davis (youtube for videos with late objects)"
                if dataset.prediction_layout == "davis"
                else "youtube",
                "protocol": dataset.protocol,
                "synthetic": dataset.synthetic,
            },
            "checkpoints": checkpoint_paths(config.methods),
            "seeds": _seeds(config),
            "layout": layout.describe(),
            "sequences": sequences,
            "sessions": [],
        }
    else:
        changed = store.differences(manifest["config"], identity)
        if changed:
            shown = "; ".join(changed[:3]) + (f"; ... ({len(changed)} in all)" if len(changed) > 3 else "")
            raise VosbenchError(
                f"{out / store.MANIFEST}: this run directory was made with other settings ({shown}); "
                "rerun with the same settings to resume, or choose another --out"
            )
    manifest["sessions"].append(
        {
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": list(command) if command is not None else list(sys.argv),
            "environment": environment(),
            "executor": executor,
        }
    )
    store.write_manifest(out, manifest)
    return manifest


def _seeds(config: RunConfig) -> dict[str, Any]:
    """Every seed that decides the outputs: torch's, set before each sequence, and the
    methods' own seed parameters."""
    per_method = {m.label: {k: v for k, v in m.settings.items() if "seed" in k} for m in config.methods}
    return {"torch_manual_seed_per_sequence": config.seed, "methods": per_method}


def _run_sequence(
    method: Any,
    label: str,
    video: Video,
    config: RunConfig,
    probe: Probe | HostProbe,
    staged: store.Staged,
    prediction_layout: str,
    progress: RunProgress,
) -> None:
    video.check()  # a bad frame or annotation fails now, not after the frames before it
    count = frames_to_run(video, config.max_frames)
    progress.sequence(label, video.name, count)
    torch.manual_seed(config.seed)
    shape = (count, len(video.info.objects) + 1, *video.info.size)
    rows = []
    with write_sequence(staged.masks_root, video, prediction_layout, frames=count) as sink:
        with write_probs(staged.probs, shape) if config.save_probs else contextlib.nullcontext() as probs:
            for index, prob in segment(method, video, config.max_frames, probe):
                began = time.perf_counter_ns()
                sink.write(index, labels_of(prob).numpy())
                if probs is not None:
                    probs.write(prob)
                write_ms = (time.perf_counter_ns() - began) / 1e6
                measure = probe.measure(method)
                rows.append(frame_row(label, video, index, measure, write_ms, config.warmup))
                progress.frame(index, measure.step_ms)
    frames, objects = frames_table(rows), objects_table()
    if config.evaluate and can_score(video):
        scored = score_sequence(video, label, staged.masks_root, prediction_layout, count)
        if scored is not None:
            per_frame, objects = scored
            frames = join_scores(frames, per_frame)
    staged.write_part(frames, objects)


def zip_submissions(layout: store.Layout, manifest: dict[str, Any]) -> list[Path]:
    """The YouTube-VOS challenge zip of each method's masks (``masks.zip``, or
    ``masks/<label>.zip`` with several methods)."""
    return [
        zip_youtube(layout.masks_root(m["label"]), videos=manifest["sequences"]) for m in manifest["config"]["methods"]
    ]
