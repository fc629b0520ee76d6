"""DAVIS-like sets without resolution folders or split files: MOSE and Long-Time Video.

Both hold ``JPEGImages/<video>/<frame>.jpg`` and ``Annotations/<video>/<frame>.png``
under one folder, and every video listed in ``JPEGImages`` is used. Objects are given
in the first annotation; every annotation present is ground truth, so sparse ground
truth (Long-Time Video annotates some frames of thousands) simply scores fewer frames.
Unannotated frames have no ground truth at all, where davis2017-evaluation pads its
mask list with -1 and then fails reading them (XMem#113).

- MOSE v1 / v2 (``<root>/<split>/...``, 5-digit names): train annotates every frame,
  valid only the first. v2's ``meta.json`` (lengths and objects) is what its own
  scorer reads (``vosbench eval --mode mose2 --meta``).
- Long-Time Video (XMem's ``long_video_set/long_video`` or ``long_video_x3``, or
  their ``_davis`` copies): ``<root>/...``, no splits; scored as DAVIS 2017 is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from vosbench.data.files import FileVideo, annotations_by_frame, binary_to_ids, list_images
from vosbench.data.video import Dataset, select_sequences
from vosbench.errors import VosbenchError


class FlatDataset(Dataset):
    """Every video under ``folder/JPEGImages``, objects given in its first annotation."""

    def __init__(self, root: Path, folder: Path, name: str, sequences: Iterable[str] | None) -> None:
        self.root = Path(root)
        self.folder = folder
        self.name = name
        frames_root = folder / "JPEGImages"
        if not frames_root.is_dir():
            raise VosbenchError(f"{frames_root}: frames folder not found; check the dataset root and the split name")
        available = sorted(p.name for p in frames_root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not available:
            raise VosbenchError(f"{frames_root}: no video folders in the frames folder")
        self._sequences = select_sequences(available, sequences, str(frames_root))

    def video(self, sequence: str) -> FileVideo:
        self._check_sequence(sequence)
        frames = list_images(self.folder / "JPEGImages" / sequence, (".jpg", ".jpeg"), "frames")
        gt = annotations_by_frame(self.folder / "Annotations" / sequence, frames)
        first = min(gt)
        return FileVideo(sequence, frames, {first: gt[first]}, gt, decode=binary_to_ids)


class MoseDataset(FlatDataset):
    """MOSE v1 or v2, one split (``<root>/<split>``)."""

    family = "mose"

    def __init__(self, root: str | Path, split: str = "valid", sequences: Iterable[str] | None = None) -> None:
        super().__init__(Path(root), Path(root) / split, f"mose-{split}", sequences)


class LongVideoDataset(FlatDataset):
    """XMem's Long-Time Video set (``<root>`` holds JPEGImages and Annotations)."""

    family = "ltv"

    def __init__(self, root: str | Path, sequences: Iterable[str] | None = None) -> None:
        super().__init__(Path(root), Path(root), "long-time-video", sequences)
