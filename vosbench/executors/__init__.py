"""Where a run's tasks execute: in this process (default), or on Ray.

``base`` (``Task``, ``TaskResult``, ``Executor``, ``InProcess``, ``plan_tasks``), ``ray``
(``RayExecutor``: a local Ray or a cluster). ``make_executor`` is how the command line
chooses one; the in-process path never imports Ray.
"""

from __future__ import annotations

from vosbench.errors import VosbenchError
from vosbench.executors.base import Executor, Failure, InProcess, Task, TaskResult, plan_tasks

EXECUTORS = ("inprocess", "ray")


def make_executor(
    name: str,
    *,
    device: str = "cpu",
    address: str | None = None,
    workers: int | None = None,
    cpus_per_task: float | None = None,
    gpus_per_task: float | None = None,
    sequences_per_task: int | None = None,
    retries: int | None = None,
) -> Executor:
    """The executor ``--executor NAME`` and its options ask for. Engine options are
    refused in process; on Ray, a task on ``cuda`` takes one GPU unless told otherwise."""
    engine = {
        "--address": address, "--workers": workers, "--cpus-per-task": cpus_per_task, "--gpus-per-task": gpus_per_task,
        "--sequences-per-task": sequences_per_task, "--retries": retries,
    }
    if name == "inprocess":
        given = [option for option, value in engine.items() if value is not None]
        if given:
            raise VosbenchError(f"{given[0]} applies to a distributed executor; add --executor ray")
        return InProcess()
    if name != "ray":
        raise VosbenchError(f"--executor {name!r}: known executors are {', '.join(EXECUTORS)}")
    cuda = device.startswith("cuda")
    if cuda and device not in ("cuda", "cuda:0"):
        raise VosbenchError(f"--device {device}: Ray gives each task its own GPU as cuda; write --device cuda")
    gpus = gpus_per_task if gpus_per_task is not None else (1 if cuda else 0)
    if cuda and gpus == 0:
        raise VosbenchError("--device cuda with --gpus-per-task 0: the tasks would see no GPU; give 1 (or a share such as 0.5)")
    from vosbench.executors.ray import RayExecutor

    return RayExecutor(
        address,
        workers=workers,
        cpus_per_task=cpus_per_task if cpus_per_task is not None else 1,
        gpus_per_task=gpus,
        sequences_per_task=sequences_per_task if sequences_per_task is not None else 1,
        retries=retries if retries is not None else 3,
    )


__all__ = ["EXECUTORS", "Executor", "Failure", "InProcess", "Task", "TaskResult", "make_executor", "plan_tasks"]
