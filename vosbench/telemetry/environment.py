"""Where a run ran, for its manifest: versions, git commit, hardware, GPU and NVML."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from vosbench.telemetry.gpu import nvml_status

PROJECT = Path(__file__).resolve().parents[2]
PACKAGES = ("vosbench", "torch", "numpy", "pandas", "pyarrow", "Pillow", "nvidia-ml-py")


def environment() -> dict[str, Any]:
    """Everything about the machine and software that can change a measurement."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "packages": {name: _version(name) for name in PACKAGES},
        "git": git_state(PROJECT),
        "cpu": {
            "model": _cpu_model(),
            "logical_cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
        "memory_bytes": _total_memory(),
        "cuda": _cuda(),
        "nvml": nvml_status(),
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        if name == "vosbench":
            import vosbench

            return vosbench.__version__
        return None


def git_state(folder: Path) -> dict[str, Any] | None:
    """Commit and dirty flag of ``folder``'s git checkout; None when it is not one."""
    if not (folder / ".git").exists():
        return None
    try:
        commit = _git(folder, "rev-parse", "HEAD")
        status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status)}


def _git(folder: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10, check=True)
    return result.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _cuda() -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"available": False, "torch_cuda": torch.version.cuda}
    devices = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        devices.append(
            {"index": index, "name": props.name, "capability": f"{props.major}.{props.minor}", "memory_bytes": props.total_memory}
        )
    return {
        "available": True,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "devices": devices,
    }
