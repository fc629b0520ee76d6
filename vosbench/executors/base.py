"""The one interface every executor has, its unit of work, and the in-process executor.

A run's work is a list of ``Task``: one method label over some of its sequences. The
runner hands an executor a ``work`` function and the tasks; the executor calls
``work(task, progress)`` for each, wherever it likes, and reports each ``TaskResult`` as
it arrives. ``work`` commits every sequence into the run directory as soon as it is
done, so an executor never carries results itself: a task that dies halfway leaves its
finished sequences in place, and running it again does only the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:  # the run package imports this module; only the type is needed here
    from vosbench.run.progress import RunProgress


@dataclass(frozen=True)
class Task:
    """One method label over some sequences of a run, run in one process."""

    label: str
    sequences: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.label} on {', '.join(self.sequences)}"


@dataclass(frozen=True)
class TaskResult:
    """What one finished attempt of a task did: the sequences it segmented (the others it
    found done) and the worker it ran in (``host``, ``pid``, ``telemetry``, ``environment``)."""

    task: Task
    segmented: tuple[str, ...]
    worker: dict[str, Any]

    @property
    def worker_id(self) -> str:
        return f"{self.worker['host']}:{self.worker['pid']}"


@dataclass(frozen=True)
class Failure:
    """A task that failed for good (retries spent, or an error a retry cannot mend)."""

    task: Task
    message: str


Work = Callable[[Task, "RunProgress | None"], TaskResult]


def plan_tasks(pairs: Sequence[tuple[str, str]], sequences_per_task: int | None) -> list[Task]:
    """(label, sequence) pairs, in run order, grouped into tasks of one label and at most
    ``sequences_per_task`` consecutive sequences (None: all of a label's in one task)."""
    by_label: dict[str, list[str]] = {}
    for label, sequence in pairs:
        by_label.setdefault(label, []).append(sequence)
    tasks = []
    for label, sequences in by_label.items():
        size = sequences_per_task or len(sequences)
        tasks += [Task(label, tuple(sequences[i : i + size])) for i in range(0, len(sequences), size)]
    return tasks


class Executor(ABC):
    """Runs a run's tasks; the runner does not know where."""

    name: str
    # how many sequences one task takes (None: all of a label's, building the method once)
    sequences_per_task: int | None = None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """For the manifest's session: the engine and its settings."""

    @abstractmethod
    def run(
        self,
        work: Work,
        tasks: Sequence[Task],
        progress: RunProgress,
        on_done: Callable[[TaskResult], None],
    ) -> list[Failure]:
        """Run every task; call ``on_done`` with each result as it arrives; return the
        tasks that failed for good (an executor may also raise, ending the run)."""


class InProcess(Executor):
    """Every task in this process, one after the other, each label's sequences in one
    task; the first error ends the run (the default executor)."""

    name = "inprocess"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def run(self, work, tasks, progress, on_done):
        for task in tasks:
            on_done(work(task, progress))
        return []
