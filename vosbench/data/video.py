"""The interface every dataset's videos share.

A ``Video`` is lazy: it knows its frame names, size and objects, and reads a frame or a
mask only when asked. Masks come back in the dataset's own object ids (uint8 [H, W]);
``objects`` maps them to contiguous indices for methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from vosbench.errors import VosbenchError
from vosbench.masks import ObjectIds


@dataclass(frozen=True)
class VideoInfo:
    """What a method needs to know before the first frame."""

    name: str
    num_frames: int
    height: int
    width: int
    objects: ObjectIds
    # dataset object id -> index of the frame where its mask is first given
    first_frame: dict[int, int] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)


class Video(ABC):
    """One video of a dataset: frames, the masks given to the method, ground truth."""

    @property
    @abstractmethod
    def info(self) -> VideoInfo: ...

    @property
    @abstractmethod
    def frame_names(self) -> list[str]:
        """Frame names (file stems) in order; predictions are written under these names."""

    @abstractmethod
    def frame(self, index: int) -> np.ndarray:
        """RGB uint8 [H, W, 3] of frame ``index``."""

    @abstractmethod
    def given_mask(self, index: int) -> np.ndarray | None:
        """Mask of the objects first given at frame ``index`` (dataset ids), or None.

        Only objects whose ``first_frame`` is ``index`` are present; others are 0.
        """

    @property
    def gt_frames(self) -> list[int]:
        """Indices of the frames that have ground truth (empty when none)."""
        return []

    def gt_mask(self, index: int) -> np.ndarray:
        """Ground truth of frame ``index`` (dataset ids); only for ``gt_frames``."""
        raise KeyError(f"{self.info.name}: no ground truth for frame {index}")

    @property
    def gt_folder(self) -> Path | None:
        """The folder of ground-truth PNGs ``<frame name>.png`` the evaluator reads, or
        None when the ground truth is not such a folder (or there is none)."""
        return None

    @property
    def output_frames(self) -> list[int]:
        """Indices of the frames whose predictions are written (all, unless the dataset
        runs on more frames than it scores, as YouTube-VOS with all frames does)."""
        return list(range(len(self)))

    @property
    def name(self) -> str:
        return self.info.name

    def __len__(self) -> int:
        return self.info.num_frames

    def __repr__(self) -> str:
        i = self.info
        return f"{type(self).__name__}({i.name!r}, {i.num_frames} frames, {i.height}x{i.width}, objects {list(i.objects.ids)})"


class Dataset(ABC):
    """A named collection of videos; iterating never loads more than one frame at a time."""

    name: str
    # how predictions are laid out (vosbench.data.submission.LAYOUTS)
    prediction_layout: str = "davis"
    # the dataset's own scoring protocol, `vosbench eval --mode`'s default for it
    protocol: str = "davis"

    @property
    @abstractmethod
    def sequences(self) -> list[str]: ...

    @abstractmethod
    def video(self, sequence: str) -> Video: ...

    def __iter__(self):
        for sequence in self.sequences:
            yield self.video(sequence)

    def __len__(self) -> int:
        return len(self.sequences)


def select_sequences(available: list[str], wanted: Iterable[str] | None, source: str) -> list[str]:
    """``wanted`` (in the dataset's order), or all of ``available`` when None.

    A name the dataset lacks raises, naming ``source`` (the split file or folder that lists them).
    """
    if wanted is None:
        return list(available)
    wanted = {wanted} if isinstance(wanted, str) else set(wanted)
    unknown = sorted(wanted - set(available))
    if unknown:
        raise VosbenchError(
            f"{source}: no sequence {', '.join(unknown)}; it lists {len(available)}, e.g. {', '.join(available[:5])}"
        )
    return [name for name in available if name in wanted]
