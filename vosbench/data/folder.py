"""A plain folder of frames (JPEG or PNG, in name order) and a first-frame mask PNG.

The mask holds object ids, or 0/255 for one object. The folder is one video, named
after the folder; it has no ground truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from vosbench.data.files import FRAME_SUFFIXES, FileVideo, binary_to_ids, list_images
from vosbench.data.video import Dataset, select_sequences
from vosbench.errors import VosbenchError


class FolderDataset(Dataset):
    """The video in ``root``, segmented from the objects of ``mask``."""

    def __init__(self, root: str | Path, mask: str | Path | None = None, sequences: Iterable[str] | None = None) -> None:
        self.root = Path(root)
        if mask is None:
            raise VosbenchError(f"{self.root}: a folder of frames needs mask=<first-frame mask PNG> giving the objects")
        self.mask = Path(mask)
        if not self.mask.is_file():
            raise VosbenchError(f"{self.mask}: first-frame mask not found")
        self.name = f"frames-{self.root.name}"
        self._sequences = select_sequences([self.root.name], sequences, str(self.root))
        # Listed now so that an empty or missing folder fails before any work starts.
        self._frames = [p for p in list_images(self.root, FRAME_SUFFIXES, "frames") if p.resolve() != self.mask.resolve()]
        if not self._frames:
            raise VosbenchError(f"{self.root}: no frames besides the mask {self.mask.name}")

    def video(self, sequence: str) -> FileVideo:
        if sequence not in self._sequences:
            raise VosbenchError(f"{self.root}: this folder holds only the video {self.root.name!r}, not {sequence!r}")
        return FileVideo(name=sequence, frames=self._frames, given={0: self.mask}, decode=binary_to_ids)
