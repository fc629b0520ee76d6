"""Drive a method over a video, frame by frame.

The engine knows videos and the ``Method`` interface only: it reads a frame, maps the
masks given at that frame to the method's contiguous object indices, and hands the
method's probabilities on. Telemetry wraps this loop; it never enters a method: a probe
(``vosbench.telemetry``) is installed as the method's stage clock and times the loading
and the step around it.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager, Iterator, Protocol

import torch

from methods.base import Method, StageClock
from vosbench.data.video import Video


class FrameProbe(Protocol):
    clock: StageClock

    def loading(self) -> ContextManager[None]: ...

    def stepping(self) -> ContextManager[None]: ...


def frames_to_run(video: Video, max_frames: int | None = None) -> int:
    """How many frames of ``video`` a run covers (all, or the first ``max_frames``)."""
    total = len(video)
    return total if max_frames is None else max(1, min(total, max_frames))


def segment(
    method: Method, video: Video, max_frames: int | None = None, probe: FrameProbe | None = None
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(frame index, probabilities [K + 1, H, W])`` for each frame in order.

    With a ``probe``, its measurements of a frame are ready when the frame is yielded.
    """
    info = video.info
    count = frames_to_run(video, max_frames)
    if probe is not None:
        method.clock = probe.clock
    loading = probe.loading if probe is not None else contextlib.nullcontext
    stepping = probe.stepping if probe is not None else contextlib.nullcontext
    method.start(info)
    for index in range(count):
        with loading():
            frame = video.frame(index)
            given = video.given_mask(index)
            new_mask = info.objects.to_contiguous(given) if given is not None else None
        with stepping():
            prob = method.step(frame, new_mask, is_last=index == count - 1)
        yield index, prob


def labels_of(prob: torch.Tensor) -> torch.Tensor:
    """Contiguous labels uint8 [H, W] from probabilities [K + 1, H, W] (first maximum wins)."""
    return prob.argmax(dim=0).to(torch.uint8)
