"""Tasks as Ray tasks: on a local Ray started here, or on a Ray cluster at ``address``.

Each task asks Ray for ``cpus_per_task`` CPUs and ``gpus_per_task`` GPUs (Ray sets
``CUDA_VISIBLE_DEVICES`` so ``cuda`` is the task's own GPU, and ``OMP_NUM_THREADS`` to its
CPUs). A worker that dies inside a task (killed, out of memory, its node lost) has the
task run again, up to ``retries`` times, by Ray; the new attempt finds the sequences the
dead one committed and does only the rest. An error raised by the task itself (a
corrupt frame, a bad checkpoint) is not retried: it would fail again.

The run directory must be on a filesystem every worker sees (it is where tasks commit).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vosbench.errors import VosbenchError
from vosbench.executors.base import Executor, Failure, Task

def _ray():
    try:
        import ray
    except ImportError:
        raise VosbenchError("--executor ray needs Ray, which is not installed here: pip install 'vosbench[ray]'") from None
    return ray


def _attempt(work, task: Task):
    """One attempt of ``task`` inside a Ray worker (progress is shown by the driver)."""
    return work(task, None)


class RayExecutor(Executor):
    """Ray tasks on the cluster at ``address`` (``auto``: the one this machine joined with
    ``ray start``; ``HOST:6379``; ``ray://HOST:10001``). Without one: ``$RAY_ADDRESS`` if
    set, else a new Ray on this machine alone, stopped at the end, running ``workers``
    tasks at once (default: as many as its cores or GPUs allow)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        cpus_per_task: float = 1,
        gpus_per_task: float = 0,
        sequences_per_task: int = 1,
        retries: int = 3,
    ) -> None:
        address = address or os.environ.get("RAY_ADDRESS") or "local"
        if address != "local" and workers is not None:
            raise VosbenchError(f"--workers sizes a local Ray; on the cluster at {address} Ray decides how many tasks run at once")
        if workers is not None and workers < 1:
            raise VosbenchError(f"--workers {workers}: give 1 or more")
        if cpus_per_task <= 0 or gpus_per_task < 0:
            raise VosbenchError(f"--cpus-per-task {cpus_per_task} / --gpus-per-task {gpus_per_task}: give CPUs > 0 and GPUs >= 0")
        if sequences_per_task < 1:
            raise VosbenchError(f"--sequences-per-task {sequences_per_task}: give 1 or more")
        if retries < 0:
            raise VosbenchError(f"--retries {retries}: give 0 or more")
        self.version = _ray().__version__  # not installed: say so before any work starts
        self.address = address
        self.workers = workers
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.sequences_per_task = sequences_per_task
        self.retries = retries

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ray": self.version,
            "address": self.address,
            "workers": self.workers,
            "cpus_per_task": self.cpus_per_task,
            "gpus_per_task": self.gpus_per_task,
            "sequences_per_task": self.sequences_per_task,
            "retries": self.retries,
        }

    def run(self, work, tasks, progress, on_done):
        if not tasks:
            return []
        ray = _ray()
        joined = ray.is_initialized()  # a caller's own Ray is used as it is, and left running
        if not joined:
            ray.init(**self._init_options())
        try:
            remote = ray.remote(_attempt)
            shared = ray.put(work)  # the run's settings and dataset, sent once
            pending = {
                remote.options(
                    name=f"vosbench {task.label} {task.sequences[0]}" + (" ..." if len(task.sequences) > 1 else ""),
                    num_cpus=self.cpus_per_task,
                    num_gpus=self.gpus_per_task,
                    max_retries=self.retries,
                    retry_exceptions=False,
                ).remote(shared, task): task
                for task in tasks
            }
            failures = []
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                task = pending.pop(done[0])
                try:
                    result = ray.get(done[0])
                except ray.exceptions.RayTaskError as error:  # raised by the task itself
                    failures.append(Failure(task, _first_line(error.cause if error.cause is not None else error, named=True)))
                except ray.exceptions.RayError as error:  # its worker or node died, retries spent
                    failures.append(Failure(task, f"{type(error).__name__} after {self.retries} retries: {_first_line(error)}"))
                else:
                    for _ in task.sequences:
                        progress.sequence_done()
                    on_done(result)
            return failures
        finally:
            if not joined:
                ray.shutdown()

    def _init_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"address": self.address}
        if self.address == "local":
            options["include_dashboard"] = False
            if self.workers is not None:
                options["num_cpus"] = self.workers * self.cpus_per_task
        source = _source_root()
        if source is not None:
            # workers import the code this driver runs, not another copy installed on the path
            path = os.pathsep.join(p for p in (str(source), os.environ.get("PYTHONPATH")) if p)
            options["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
        return options


def _source_root() -> Path | None:
    """The checkout holding the running ``vosbench`` package, or None when it is installed."""
    import vosbench

    root = Path(vosbench.__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def _first_line(error: BaseException, named: bool = False) -> str:
    """The error's first line; ``named`` prefixes the type unless it is our own (already one clear line)."""
    lines = str(error).strip().splitlines()
    text = lines[0][:300] if lines else ""
    if named and not isinstance(error, VosbenchError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text or type(error).__name__
