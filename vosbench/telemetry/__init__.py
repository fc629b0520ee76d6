"""Per-frame telemetry: stage latency, stored features, host and GPU memory.

``clock`` times stages (monotonic clock on the CPU, CUDA events on a GPU), ``gpu`` reads
NVML and the torch allocator, ``host`` the process RSS, ``probe`` puts them together
around a method's step, ``environment`` describes the machine for the manifest.
"""

from vosbench.telemetry.probe import FrameMeasure, HostProbe, Probe, probe_for

__all__ = ["FrameMeasure", "HostProbe", "Probe", "probe_for"]
