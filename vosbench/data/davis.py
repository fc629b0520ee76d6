"""DAVIS 2016 and 2017: ``JPEGImages/<res>/<seq>``, ``Annotations/<res>/<seq>``, ``ImageSets/<year>``.

Every object is given in frame 0's annotation; every annotation file present is ground
truth. DAVIS 2016 has one object per sequence, stored 0/255; DAVIS 2017 stores object
ids in palette PNGs (a 0/255 sequence there is read as object 1 too).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Iterable

from vosbench.data.files import FileVideo, annotations_by_frame, binary_to_ids, list_images, single_object
from vosbench.data.video import Dataset, select_sequences
from vosbench.errors import VosbenchError

RESOLUTIONS = ("480p", "Full-Resolution")
YEARS = (2016, 2017)


def read_split(path: Path) -> list[str]:
    """Sequence names of a split file, in order.

    A line is a bare name (``blackswan``) or, as in the original DAVIS 2016 release, a
    frame/annotation pair (``/JPEGImages/480p/blackswan/00000.jpg /Annotations/...``).
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise VosbenchError(f"{path}: split file not found; check the dataset root and the split name") from None
    except (OSError, UnicodeDecodeError) as error:
        raise VosbenchError(f"{path}: cannot read split file ({error})") from None
    names: dict[str, None] = {}  # ordered set: pair lines repeat the name once per frame
    for line in lines:
        fields = line.split()
        if fields:
            first = fields[0]
            names[PurePosixPath(first).parent.name if "/" in first else first] = None
    if not names:
        raise VosbenchError(f"{path}: split file lists no sequences")
    return list(names)


class DavisDataset(Dataset):
    """DAVIS ``year`` (2016 or 2017), one split, one resolution."""

    family = "davis"

    def __init__(
        self,
        root: str | Path,
        split: str = "val",
        year: int = 2017,
        resolution: str = "480p",
        sequences: Iterable[str] | None = None,
    ) -> None:
        if year not in YEARS:
            raise VosbenchError(f"DAVIS year {year} is not one of {list(YEARS)}")
        if resolution not in RESOLUTIONS:
            raise VosbenchError(f"DAVIS resolution {resolution!r} is not one of {list(RESOLUTIONS)}")
        self.root = Path(root)
        self.year = year
        self.resolution = resolution
        self.name = f"davis{year}-{split}"
        split_file = self.root / "ImageSets" / str(year) / f"{split}.txt"
        self._sequences = select_sequences(read_split(split_file), sequences, str(split_file))
        for sequence in self._sequences:
            if not self._frames_dir(sequence).is_dir():
                raise VosbenchError(
                    f"{self._frames_dir(sequence)}: frames folder of {sequence} (listed in {split_file}) not found"
                )

    def _frames_dir(self, sequence: str) -> Path:
        return self.root / "JPEGImages" / self.resolution / sequence

    def video(self, sequence: str) -> FileVideo:
        self._check_sequence(sequence)
        frames_dir = self._frames_dir(sequence)
        frames = list_images(frames_dir, (".jpg", ".jpeg"), "frames")
        annotations_dir = self.root / "Annotations" / self.resolution / sequence
        gt = annotations_by_frame(annotations_dir, frames)
        if 0 not in gt:
            raise VosbenchError(f"{annotations_dir / frames[0].stem}.png: first-frame annotation not found; it gives the objects")
        return FileVideo(
            name=sequence,
            frames=frames,
            given={0: gt[0]},
            gt=gt,
            decode=single_object if self.year == 2016 else binary_to_ids,
        )
