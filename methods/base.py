"""What the engine drives: a ``Method`` is a network plus a memory policy.

The engine calls ``start(info)`` once per video, then ``step`` for every frame in
order. ``step`` returns soft probabilities for every object of the video (background
first); objects not given yet have probability 0. Stage timing goes through
``self.clock`` so telemetry can wrap encode / read / decode / memorize without the
method knowing how it is measured.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ContextManager, Protocol

import numpy as np
import torch

from methods.memory.base import MemoryPolicy
from vosbench.data.video import VideoInfo
from vosbench.errors import VosbenchError

STAGES = ("encode", "read", "decode", "memorize")
"""The stages a step is split into for latency telemetry."""


class StageClock(Protocol):
    def stage(self, name: str) -> ContextManager[None]: ...


class NoClock:
    """Measures nothing; the default until the engine installs a probe."""

    def stage(self, name: str) -> ContextManager[None]:
        return contextlib.nullcontext()


@dataclass(frozen=True)
class MemoryReport:
    """Features held in memory after a step."""

    per_object: tuple[int, ...]  # stored feature vectors (positions or bases) per object
    nbytes: int  # bytes of keys and values held
    # feature vectors per object the frame's read matched, when more than the stored ones
    # (a temporary frame); None: the same as per_object
    matched: tuple[int, ...] | None = None
    # feature vectors per memory tier, summed over the objects (XMem: working, long_term,
    # sensory); None for a memory of one tier
    tiers: dict[str, int] | None = None
    events: tuple[str, ...] = ()  # changes between tiers during this step (consolidations, removals)


def tier_fields(policy: MemoryPolicy, objects: int, frame: int) -> dict:
    """``tiers`` and ``events`` of a report on ``policy`` after frame ``frame``, tiers
    summed over ``objects``."""
    tiers = {name: count * objects for name, count in policy.tiers().items()}
    return {"tiers": tiers or None, "events": tuple(str(e) for e in policy.events() if e.frame == frame)}


class Method(ABC):
    """One VOS method, configured by its registered parameters."""

    def __init__(self, device: str | torch.device = "cpu", dtype: torch.dtype | None = None):
        self.device = torch.device(device)
        # None: float32; torch.float16 / torch.bfloat16: autocast on the device
        self.autocast_dtype = dtype
        self.clock: StageClock = NoClock()

    @abstractmethod
    def start(self, info: VideoInfo) -> None:
        """Forget the previous video and prepare for ``info``."""

    @abstractmethod
    def step(self, frame: np.ndarray, new_mask: np.ndarray | None, is_last: bool) -> torch.Tensor:
        """Segment the next frame.

        frame: RGB uint8 [H, W, 3]. new_mask: uint8 [H, W] with the contiguous indices
        (1..K) of the objects first given at this frame, 0 elsewhere; None when no object
        starts here. is_last: no later frame follows (methods skip memorising it).
        Returns float32 [K + 1, H, W] on the CPU, channel 0 the background.
        """

    @abstractmethod
    def memory(self) -> MemoryReport:
        """What the memory holds now."""

    def key_features(self, frame: np.ndarray) -> torch.Tensor:
        """The key this method would store and match for ``frame`` (RGB uint8 [H, W, 3]),
        on its key grid: float32 [C, h, w] on the CPU. Needs no ``start``; changes no state.

        Optional: ``vosbench redundancy`` analyses these; a method without one says so.
        """
        raise VosbenchError(f"{type(self).__name__} gives no key features; it cannot be analysed by vosbench redundancy")

    def object_summaries(self, frame: np.ndarray, masks: torch.Tensor) -> torch.Tensor | None:
        """What ``frame`` (RGB uint8 [H, W, 3]) with the object masks ``masks`` (float
        [K, H, W], 0/1) would add to this method's object memory: float32 [K, Q, C + 1]
        on the CPU (per summary a feature sum, then its weights' sum). Needs no
        ``start``; changes no state.

        Optional: None for a method that keeps no object memory.
        """
        return None

    def autocast(self) -> ContextManager[None]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)
