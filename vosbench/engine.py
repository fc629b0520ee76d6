"""Drive a method over a video, frame by frame.

The engine knows videos and the ``Method`` interface only: it reads a frame, maps the
masks given at that frame to the method's contiguous object indices, and hands the
method's probabilities on. Telemetry wraps this loop; it never enters a method.
"""

from __future__ import annotations

from typing import Iterator

import torch

from methods.base import Method
from vosbench.data.video import Video


def frames_to_run(video: Video, max_frames: int | None = None) -> int:
    """How many frames of ``video`` a run covers (all, or the first ``max_frames``)."""
    total = len(video)
    return total if max_frames is None else max(1, min(total, max_frames))


def segment(method: Method, video: Video, max_frames: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(frame index, probabilities [K + 1, H, W])`` for each frame in order."""
    info = video.info
    count = frames_to_run(video, max_frames)
    method.start(info)
    for index in range(count):
        frame = video.frame(index)
        given = video.given_mask(index)
        new_mask = info.objects.to_contiguous(given) if given is not None else None
        yield index, method.step(frame, new_mask, is_last=index == count - 1)


def labels_of(prob: torch.Tensor) -> torch.Tensor:
    """Contiguous labels uint8 [H, W] from probabilities [K + 1, H, W] (first maximum wins)."""
    return prob.argmax(dim=0).to(torch.uint8)
