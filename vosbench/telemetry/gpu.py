"""GPU memory: NVML (through ``pynvml`` from nvidia-ml-py) and the torch allocator.

NVML gives what the driver sees: the device's used memory (every process) and this
process's share. The torch allocator gives what torch holds (allocated, reserved, peak).
Where there is no GPU, no NVML library or no process entry, the value is None and a
reason says why; no number is ever made up.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import torch


def _nvml() -> Any:
    """The initialised ``pynvml`` module; raises ``RuntimeError`` with the reason otherwise."""
    try:
        import pynvml
    except ImportError:
        raise RuntimeError("pynvml (nvidia-ml-py) is not installed") from None
    try:
        pynvml.nvmlInit()  # reference-counted by NVML: cheap when already initialised
    except pynvml.NVMLError as error:
        raise RuntimeError(f"NVML unavailable: {error}") from None
    return pynvml


def nvml_status() -> dict[str, Any]:
    """For the manifest: whether NVML works here, the driver and the GPUs it lists."""
    try:
        nvml = _nvml()
    except RuntimeError as error:
        return {"available": False, "reason": str(error)}
    try:
        devices = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            devices.append(
                {
                    "index": index,
                    "name": _text(nvml.nvmlDeviceGetName(handle)),
                    "memory_bytes": int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
                }
            )
        return {"available": True, "driver": _text(nvml.nvmlSystemGetDriverVersion()), "devices": devices}
    except nvml.NVMLError as error:
        return {"available": False, "reason": f"NVML query failed: {error}"}
    finally:
        nvml.nvmlShutdown()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlDevice:
    """NVML readings of the GPU behind a torch CUDA device.

    ``open`` never raises: when NVML cannot read the device, ``reason`` says why and every
    reading is None. ``process_reason`` does the same for this process's share alone
    (NVML does not list processes of another PID namespace, as in many containers).
    """

    def __init__(self, nvml: Any = None, handle: Any = None, reason: str | None = None) -> None:
        self._nvml = nvml
        self._handle = handle
        self.reason = reason
        self.process_reason: str | None = reason
        self.name: str | None = None
        self.driver: str | None = None
        if handle is not None:
            self.name = _text(nvml.nvmlDeviceGetName(handle))
            self.driver = _text(nvml.nvmlSystemGetDriverVersion())
            if self.process_bytes() is None and self.process_reason is None:
                self.process_reason = f"NVML does not list process {os.getpid()} on this GPU (another PID namespace?)"

    @classmethod
    def open(cls, device: torch.device) -> NvmlDevice:
        if device.type != "cuda":
            return cls(reason=f"the run is on {device.type}, not a GPU")
        try:
            nvml = _nvml()
        except RuntimeError as error:
            return cls(reason=str(error))
        try:
            # a CUDA context first, so that NVML lists this process
            torch.empty(1, device=device)
            return cls(nvml, _handle(nvml, device))
        except (nvml.NVMLError, RuntimeError) as error:
            nvml.nvmlShutdown()
            return cls(reason=f"NVML cannot read {device}: {error}")

    @property
    def available(self) -> bool:
        return self._handle is not None

    def used_bytes(self) -> int | None:
        """Memory in use on the whole device (every process)."""
        if self._handle is None:
            return None
        try:
            return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)
        except self._nvml.NVMLError:
            return None

    def process_bytes(self) -> int | None:
        """This process's GPU memory as the driver accounts it."""
        if self._handle is None:
            return None
        try:
            processes = self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except self._nvml.NVMLError as error:
            self.process_reason = f"NVML cannot list processes: {error}"
            return None
        pid = os.getpid()
        for process in processes:
            if process.pid == pid and process.usedGpuMemory is not None:
                return int(process.usedGpuMemory)
        return None

    def close(self) -> None:
        if self._handle is not None:
            self._handle = None
            self._nvml.nvmlShutdown()

    def describe(self) -> dict[str, Any]:
        """For the manifest."""
        return {
            "nvml": self.available,
            "reason": self.reason,
            "process_memory_reason": self.process_reason,
            "name": self.name,
            "driver": self.driver,
        }


def _handle(nvml: Any, device: torch.device) -> Any:
    """The NVML handle of a torch device: by UUID, which survives CUDA_VISIBLE_DEVICES
    reordering; else by torch's own mapping of its index to NVML's."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    uuid = str(getattr(torch.cuda.get_device_properties(index), "uuid", "") or "")
    if uuid:
        try:
            return nvml.nvmlDeviceGetHandleByUUID(uuid if uuid[:4] in ("GPU-", "MIG-") else f"GPU-{uuid}")
        except nvml.NVMLError:
            pass
    return nvml.nvmlDeviceGetHandleByIndex(torch.cuda._get_nvml_device_index(index))


class PeakSampler:
    """A background thread that polls the device's used memory and keeps the peak.

    Per-frame readings miss what a step allocates and frees again; the sampler catches
    it (to its sampling interval). ``take`` returns the peak since the previous call.
    """

    def __init__(self, device: NvmlDevice, interval_s: float = 0.005) -> None:
        self._device = device
        self._interval = interval_s
        self._peak: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vosbench-gpu-peak", daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._note(self._device.used_bytes())

    def _note(self, value: int | None) -> None:
        if value is not None:
            with self._lock:
                self._peak = value if self._peak is None else max(self._peak, value)

    def take(self, now: int | None) -> int | None:
        """The peak since the last ``take`` (``now`` included); starts the next window at ``now``."""
        self._note(now)
        with self._lock:
            peak, self._peak = self._peak, now
        return peak


@dataclass(frozen=True)
class AllocatorStats:
    allocated: int
    reserved: int
    peak: int


def reset_allocator_peak(device: torch.device) -> None:
    torch.cuda.reset_peak_memory_stats(device)


def allocator_stats(device: torch.device) -> AllocatorStats:
    """What the torch caching allocator holds now, and its peak since the last reset."""
    return AllocatorStats(
        int(torch.cuda.memory_allocated(device)),
        int(torch.cuda.memory_reserved(device)),
        int(torch.cuda.max_memory_allocated(device)),
    )
