"""SA-V val/test: ``<root>/sav_<split>/{sav_<split>.txt, JPEGImages_24fps, Annotations_6fps}``.

Frames are extracted at 24 fps (``JPEGImages_24fps/<video>/<5-digit>.jpg``); each object
is annotated at 6 fps in its own folder of binary masks,
``Annotations_6fps/<video>/<object>/<frame>.png`` (object folders ``000``, ``001``...,
dataset id = folder number + 1). An object is given at the first frame of its folder.
Objects may overlap in SA-V; merged into one id mask here, the larger id keeps the
shared pixels (the official scorer, ``vosbench eval --mode sav``, reads each object's
own masks and is not affected).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from vosbench.data.davis import read_split
from vosbench.data.files import FileVideo, ObjectFiles, list_images
from vosbench.data.video import Dataset, select_sequences
from vosbench.errors import VosbenchError


def object_folders(video_dir: Path) -> dict[int, Path]:
    """Dataset id -> folder of one object's masks, for an SA-V video annotation folder."""
    if not video_dir.is_dir():
        raise VosbenchError(f"{video_dir}: annotation folder not found; check the dataset root and layout")
    folders = {}
    for path in sorted(p for p in video_dir.iterdir() if not p.name.startswith(".")):
        if not path.is_dir() or not path.name.isdigit() or not 0 <= int(path.name) < 255:
            raise VosbenchError(
                f"{path}: SA-V annotations hold one folder per object, named by its number (000, 001, ...); "
                "move this entry out (a DAVIS-style video of id masks is read with -d frames or davis2017)"
            )
        folders[int(path.name) + 1] = path
    if not folders:
        raise VosbenchError(f"{video_dir}: no object folders; SA-V annotates each object in its own folder")
    return folders


class SavDataset(Dataset):
    """SA-V ``val`` or ``test``."""

    protocol = "sav"
    family = "sav"

    def __init__(self, root: str | Path, split: str = "val", sequences: Iterable[str] | None = None) -> None:
        self.root = Path(root)
        self.folder = self.root / f"sav_{split}"
        self.name = f"sav-{split}"
        split_file = self.folder / f"sav_{split}.txt"
        self._sequences = select_sequences(read_split(split_file), sequences, str(split_file))
        for video in self._sequences:
            if not (self.folder / "JPEGImages_24fps" / video).is_dir():
                raise VosbenchError(
                    f"{self.folder / 'JPEGImages_24fps' / video}: frames folder of {video} (listed in {split_file}) not found"
                )

    def video(self, sequence: str) -> FileVideo:
        self._check_sequence(sequence)
        frames = list_images(self.folder / "JPEGImages_24fps" / sequence, (".jpg", ".jpeg"), "frames")
        index = {p.stem: i for i, p in enumerate(frames)}
        by_frame: dict[int, list[tuple[int, Path]]] = {}
        first_frame = {}
        for object_id, folder in object_folders(self.folder / "Annotations_6fps" / sequence).items():
            for path in list_images(folder, (".png",), "object masks"):
                if path.stem not in index:
                    raise VosbenchError(f"{path}: mask has no frame {frames[0].parent / path.stem}.jpg; restore the frame")
                by_frame.setdefault(index[path.stem], []).append((object_id, path))
                first_frame.setdefault(object_id, index[path.stem])
        gt = {i: ObjectFiles(tuple(files)) for i, files in sorted(by_frame.items())}
        return FileVideo(sequence, frames, gt, gt, first_frame=first_frame)
