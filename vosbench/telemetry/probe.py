"""The probe the engine puts around a method: per-frame latency, memory and telemetry.

``Probe`` measures everything (stage latency, stored features, host RSS, and on a GPU
NVML readings and the torch allocator); ``HostProbe`` only times loading and the whole
step on the host clock, the baseline that telemetry overhead is measured against. Both
give the engine ``clock`` (installed as ``Method.clock``), ``loading()`` and
``stepping()``, and the caller ``measure(method)`` once the frame is done.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from methods.base import STAGES, Method, NoClock, StageClock
from vosbench.telemetry import gpu
from vosbench.telemetry.clock import clock_for
from vosbench.telemetry.host import rss_bytes


@dataclass(frozen=True)
class FrameMeasure:
    """What the probe measured for one frame; None where it measured nothing."""

    load_ms: float
    step_ms: float
    wall_ms: float
    stages: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(STAGES))
    stored: tuple[int, ...] | None = None  # stored feature vectors per object of the video
    matched: tuple[int, ...] | None = None
    memory_bytes: int | None = None
    rss_bytes: int | None = None
    gpu_used_bytes: int | None = None
    gpu_process_bytes: int | None = None
    gpu_peak_bytes: int | None = None
    torch_allocated_bytes: int | None = None
    torch_reserved_bytes: int | None = None
    torch_peak_bytes: int | None = None
    tiers: dict[str, int] | None = None  # feature vectors per memory tier (MemoryReport.tiers)
    events: tuple[str, ...] = ()  # memory events of the step


class _LoadTimer:
    def __init__(self) -> None:
        self.load_ns = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    @contextlib.contextmanager
    def loading(self) -> Iterator[None]:
        start = time.perf_counter_ns()
        try:
            yield
        finally:
            self.load_ns = time.perf_counter_ns() - start


class HostProbe(_LoadTimer):
    """Loading and the whole step on the host clock; the method keeps its ``NoClock``."""

    clock: StageClock = NoClock()

    def __init__(self) -> None:
        super().__init__()
        self._step_ns = 0

    @contextlib.contextmanager
    def stepping(self) -> Iterator[None]:
        start = time.perf_counter_ns()
        try:
            yield
        finally:
            self._step_ns = time.perf_counter_ns() - start

    def measure(self, method: Method) -> FrameMeasure:
        step = self._step_ns / 1e6
        return FrameMeasure(self.load_ns / 1e6, step, step)

    def describe(self) -> dict[str, Any]:
        return {"telemetry": False, "reason": "telemetry off: only load, step and write times on the host clock"}


class Probe(_LoadTimer):
    """Full telemetry on ``device``. Use as a context manager: on a GPU it runs a
    background sampler of NVML's used memory for peaks between readings."""

    def __init__(self, device: torch.device | str) -> None:
        super().__init__()
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.clock = clock_for(self.device)
        self.nvml = gpu.NvmlDevice.open(self.device)
        self._sampler = gpu.PeakSampler(self.nvml) if self.nvml.available else None

    def __enter__(self) -> Probe:
        if self._sampler is not None:
            self._sampler.__enter__()
        return self

    def close(self) -> None:
        if self._sampler is not None:
            self._sampler.__exit__()
            self._sampler = None
        self.nvml.close()

    @contextlib.contextmanager
    def stepping(self) -> Iterator[None]:
        if self.cuda:
            gpu.reset_allocator_peak(self.device)
        with self.clock.step():
            yield

    def measure(self, method: Method) -> FrameMeasure:
        times = self.clock.read()
        report = method.memory()
        used = self.nvml.used_bytes()
        allocator = gpu.allocator_stats(self.device) if self.cuda else None
        return FrameMeasure(
            load_ms=self.load_ns / 1e6,
            step_ms=times.step_ms,
            wall_ms=times.wall_ms,
            stages=dict(times.stages),
            stored=tuple(report.per_object),
            matched=tuple(report.matched) if report.matched is not None else tuple(report.per_object),
            memory_bytes=int(report.nbytes),
            tiers=report.tiers,
            events=tuple(report.events),
            rss_bytes=rss_bytes(),
            gpu_used_bytes=used,
            gpu_process_bytes=self.nvml.process_bytes(),
            gpu_peak_bytes=self._sampler.take(used) if self._sampler is not None else None,
            torch_allocated_bytes=allocator.allocated if allocator else None,
            torch_reserved_bytes=allocator.reserved if allocator else None,
            torch_peak_bytes=allocator.peak if allocator else None,
        )

    def describe(self) -> dict[str, Any]:
        """For the manifest: which fields are filled, and why the others are null."""
        return {
            "telemetry": True,
            "clock": "CUDA events, one synchronisation per frame" if self.cuda else "perf_counter_ns (monotonic)",
            "gpu": self.nvml.describe(),
            "torch_allocator": None if self.cuda else f"the run is on {self.device.type}: no CUDA allocator",
            "rss": None if rss_bytes() is not None else "/proc/self/statm is not readable here",
        }


def probe_for(device: torch.device | str, telemetry: bool) -> Probe | HostProbe:
    return Probe(device) if telemetry else HostProbe()
