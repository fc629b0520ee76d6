"""Latency of a method's step and of its stages (encode, read, decode, memorize).

On the CPU every span is timed with the monotonic ``perf_counter_ns``. On a CUDA device
spans are CUDA events recorded on the current stream and read after one synchronisation
at the end of the frame, so timing a stage never stalls the GPU in the middle of a step.
The whole step is also timed on the host clock (``wall_ms``): on the GPU that checks the
events, on the CPU it is the same measurement as ``step_ms``.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Iterator

import torch

from methods.base import STAGES


@dataclass(frozen=True)
class StepTimes:
    """One frame's step: milliseconds per stage (0 where a stage did not run), the step's
    total on the device clock and on the host clock."""

    stages: dict[str, float]
    step_ms: float
    wall_ms: float


class HostClock:
    """Stage and step times on the host's monotonic clock (CPU runs)."""

    def __init__(self) -> None:
        self._ns = dict.fromkeys(STAGES, 0)
        self._step_ns = 0

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter_ns()
        try:
            yield
        finally:
            self._ns[name] = self._ns.get(name, 0) + time.perf_counter_ns() - start

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        self._ns = dict.fromkeys(STAGES, 0)
        start = time.perf_counter_ns()
        try:
            yield
        finally:
            self._step_ns = time.perf_counter_ns() - start

    def read(self) -> StepTimes:
        step = self._step_ns / 1e6
        return StepTimes({name: ns / 1e6 for name, ns in self._ns.items()}, step, step)


class CudaClock:
    """Stage and step times from CUDA events on ``device``; one synchronisation per frame."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._pool: list[torch.cuda.Event] = []  # events are reused from frame to frame
        self._used = 0
        self._spans: list[tuple[str, torch.cuda.Event, torch.cuda.Event]] = []
        self._step: tuple[torch.cuda.Event, torch.cuda.Event] | None = None
        self._wall_ns = 0

    def _record(self) -> torch.cuda.Event:
        if self._used == len(self._pool):
            self._pool.append(torch.cuda.Event(enable_timing=True))
        event = self._pool[self._used]
        self._used += 1
        event.record(torch.cuda.current_stream(self.device))
        return event

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = self._record()
        try:
            yield
        finally:
            self._spans.append((name, start, self._record()))

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        self._used = 0
        self._spans = []
        wall = time.perf_counter_ns()
        start = self._record()
        try:
            yield
        finally:
            end = self._record()
            self._step = (start, end)
            # the step hands back CPU tensors, so the host waited for the GPU already;
            # this only makes sure the end event itself is complete
            end.synchronize()
            self._wall_ns = time.perf_counter_ns() - wall

    def read(self) -> StepTimes:
        stages = dict.fromkeys(STAGES, 0.0)
        for name, start, end in self._spans:
            stages[name] = stages.get(name, 0.0) + start.elapsed_time(end)
        start, end = self._step
        return StepTimes(stages, start.elapsed_time(end), self._wall_ns / 1e6)


def clock_for(device: torch.device) -> HostClock | CudaClock:
    return CudaClock(device) if device.type == "cuda" else HostClock()
