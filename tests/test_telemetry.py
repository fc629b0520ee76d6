"""Telemetry: stage clocks, host memory, NVML status without a GPU, the peak sampler,
the probe around the engine, and the environment a manifest records."""

from __future__ import annotations

import mmap
import subprocess
import time

import numpy as np
import pytest
import torch

from conftest import ROOT
from methods.base import STAGES
from vosbench import registry
from vosbench.data import open_dataset
from vosbench.engine import segment
from vosbench.telemetry import HostProbe, Probe
from vosbench.telemetry.clock import HostClock
from vosbench.telemetry.environment import environment
from vosbench.telemetry.gpu import NvmlDevice, PeakSampler, nvml_status
from vosbench.telemetry.host import rss_bytes


def test_host_clock_sums_stages_and_zeroes_the_unused():
    clock = HostClock()
    with clock.step():
        with clock.stage("encode"):
            time.sleep(0.02)
        with clock.stage("read"):
            time.sleep(0.01)
        with clock.stage("read"):  # a stage entered twice adds up
            time.sleep(0.01)
    times = clock.read()
    assert set(times.stages) == set(STAGES)
    assert times.stages["decode"] == 0 and times.stages["memorize"] == 0
    assert times.stages["encode"] >= 20 and times.stages["read"] >= 20
    assert sum(times.stages.values()) <= times.step_ms == times.wall_ms
    with clock.step():  # the next frame starts from zero
        pass
    assert clock.read().stages["encode"] == 0


def vm_rss() -> int:
    """The kernel's other account of the same number, /proc/self/status VmRSS."""
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def test_rss_follows_what_the_process_touches():
    assert abs(rss_bytes() - vm_rss()) < 4 * 2**20
    before = rss_bytes()
    # fresh pages from the kernel (not memory an earlier test freed), written so they are resident
    with mmap.mmap(-1, 64 * 2**20) as block:
        block.write(b"x" * len(block))
        after = rss_bytes()
    assert after - before >= 60 * 2**20


def test_nvml_on_a_cpu_run_gives_none_and_says_why():
    device = NvmlDevice.open(torch.device("cpu"))
    assert not device.available
    assert device.used_bytes() is None and device.process_bytes() is None
    assert "cpu" in device.reason and device.describe()["nvml"] is False
    status = nvml_status()  # this machine's NVML: either listed GPUs or the reason there are none
    assert status["available"] == bool(status.get("devices")) or status.get("reason")
    if not status["available"]:
        assert status["reason"]


class _Readings:
    """Stands in for NVML (absent here): used memory rises to a spike and falls back."""

    def __init__(self, values):
        self.values = list(values)

    def used_bytes(self):
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_peak_sampler_catches_what_frame_readings_miss():
    readings = _Readings([100, 300, 900, 200] + [200] * 5)
    with PeakSampler(readings, interval_s=0.001) as sampler:
        deadline = time.monotonic() + 2
        while len(readings.values) > 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert sampler.take(200) == 900  # the spike between two frame readings
        # the next window starts at the last frame reading (200), above this one
        assert sampler.take(150) == 200


def test_probe_around_the_engine_measures_every_frame_on_cpu(tmp_path):
    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=1, frames=6, objects=2, size="64x96")
    video = data.video("synth-000")
    spec = registry.get("stcn")
    method = spec.factory(spec.resolve({"mem_every": 2}))
    with Probe("cpu") as probe:
        measures = []
        for index, prob in segment(method, video, probe=probe):
            measures.append(probe.measure(method))
        described = probe.describe()
    assert len(measures) == 6
    for m in measures:
        assert m.load_ms > 0 and m.step_ms > 0 and m.step_ms == m.wall_ms
        assert sum(m.stages.values()) <= m.step_ms
        assert m.rss_bytes > 0 and m.memory_bytes > 0 and len(m.stored) == 2
        assert m.gpu_used_bytes is None and m.gpu_peak_bytes is None and m.torch_peak_bytes is None
    assert measures[0].stages["read"] == 0 and measures[1].stages["read"] > 0  # nothing to read at frame 0
    grid = measures[0].stored[0]  # one frame's key-grid cells
    assert grid > 0 and [m.stored[0] for m in measures] == [grid * (1 + i // 2) for i in range(6)]  # frames 0, 2, 4
    assert described["gpu"]["nvml"] is False and "cpu" in described["gpu"]["reason"]
    assert described["torch_allocator"]


def test_host_probe_times_only_load_and_step(tmp_path):
    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=1, frames=3, objects=1, size="48x64")
    spec = registry.get("swem")
    method = spec.factory(spec.resolve({"num_bases": 16, "top_l": 8}))
    probe = HostProbe()
    for index, prob in segment(method, data.video("synth-000"), probe=probe):
        m = probe.measure(method)
        assert m.step_ms > 0 and m.load_ms > 0
        assert all(v is None for v in m.stages.values()) and m.stored is None and m.rss_bytes is None
    assert probe.describe()["telemetry"] is False


def test_environment_names_versions_commit_and_hardware():
    env = environment()
    assert env["packages"]["torch"] == torch.__version__ and env["packages"]["numpy"] == np.__version__
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert env["git"]["commit"] == head.stdout.strip() and isinstance(env["git"]["dirty"], bool)
    assert env["cpu"]["logical_cores"] >= 1 and env["cpu"]["torch_threads"] == torch.get_num_threads()
    assert env["cuda"]["available"] == torch.cuda.is_available()
    assert env["nvml"]["available"] or env["nvml"]["reason"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_probe_on_cuda_fills_gpu_fields_and_events_agree_with_the_host_clock(tmp_path):
    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=1, frames=4, objects=1, size="240x432")
    spec = registry.get("stcn")
    method = spec.factory(spec.resolve({}), device="cuda")
    with Probe("cuda") as probe:
        for index, prob in segment(method, data.video("synth-000"), probe=probe):
            m = probe.measure(method)
            assert m.torch_peak_bytes >= m.torch_allocated_bytes > 0
            assert m.step_ms == pytest.approx(m.wall_ms, rel=0.5, abs=2.0)
            if probe.nvml.available:
                assert m.gpu_used_bytes > 0 and m.gpu_peak_bytes >= m.gpu_used_bytes
