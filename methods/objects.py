"""Which of a video's objects a method is tracking, and in which memory slot.

Objects are the video's contiguous indices 1..K. An object joins when its mask is first
given; the memory holds one slot per joined object, in the order they joined. Methods
compute on slots and hand the engine all K objects (``scatter``).
"""

from __future__ import annotations

import numpy as np
import torch

from vosbench.data.video import VideoInfo
from vosbench.errors import VosbenchError


class ObjectSlots:
    def __init__(self, info: VideoInfo) -> None:
        self.info = info
        self.num_objects = len(info.objects)
        self.active: list[int] = []  # object index of each slot
        self.frames = 0  # frames that have arrived

    def arrive(self, frame: np.ndarray, new_mask: np.ndarray | None) -> tuple[int, list[int]]:
        """The next frame: check its inputs; returns its index in the video and the
        object indices first given there."""
        index = self.frames
        new = self.check(index, frame, new_mask)
        self.frames += 1
        return index, new

    def idle(self, new: list[int]) -> bool:
        """No object is tracked nor given: the frame is all background, no work to do."""
        return not self.active and not new

    def check(self, index: int, frame: np.ndarray, new_mask: np.ndarray | None) -> list[int]:
        """Validate a step's inputs; returns the object indices first given at this frame."""
        info = self.info
        where = f"{info.name} frame {index}"
        expected = f"expected ({info.height}, {info.width})"
        if frame.shape != (info.height, info.width, 3) or frame.dtype != np.uint8:
            raise VosbenchError(
                f"{where}: frame is {frame.shape[1]}x{frame.shape[0]} {frame.dtype} with shape {frame.shape}; "
                f"{expected}, expected uint8 RGB like the video's first frame"
            )
        if new_mask is None:
            return []
        if new_mask.shape != info.size:
            raise VosbenchError(
                f"{where}: mask is {new_mask.shape[1]}x{new_mask.shape[0]}, {expected}; the annotation must match its frame"
            )
        new = [int(v) for v in np.unique(new_mask) if v != 0]
        unknown = [v for v in new if v > self.num_objects]
        if unknown:
            raise VosbenchError(
                f"{where}: mask holds object indices {unknown}, beyond the video's {self.num_objects} objects"
            )
        again = [v for v in new if v in self.active]
        if again:
            raise VosbenchError(f"{where}: objects {again} were already given at an earlier frame")
        return new

    def join(self, new: list[int]) -> None:
        self.active += new

    def given(self, new_mask: np.ndarray, new: list[int], device: torch.device) -> torch.Tensor:
        """One-hot float masks [len(new), H, W] of the newly given objects."""
        labels = torch.from_numpy(np.require(new_mask, requirements=["C", "W"])).to(device)
        return (labels[None] == torch.tensor(new, device=device, dtype=labels.dtype)[:, None, None]).float()

    def scatter(self, probs: torch.Tensor) -> torch.Tensor:
        """Slot probabilities [1 + slots, H, W] -> all objects [K + 1, H, W] (float32, same device)."""
        out = probs.new_zeros((self.num_objects + 1, *probs.shape[-2:]), dtype=torch.float32)
        out[0] = probs[0]
        if self.active:
            out[self.active] = probs[1:].float()
        return out

    def background(self) -> torch.Tensor:
        out = torch.zeros((self.num_objects + 1, *self.info.size), dtype=torch.float32)
        out[0] = 1
        return out

    def per_object(self, per_slot: list[int]) -> tuple[int, ...]:
        counts = [0] * self.num_objects
        for slot, k in enumerate(self.active):
            counts[k - 1] = per_slot[slot]
        return tuple(counts)
