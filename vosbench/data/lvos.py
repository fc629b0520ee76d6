"""LVOS v1/v2: ``<root>/<split>/{JPEGImages,Annotations}/<video>`` and ``<split>_meta.json``.

Frames are named by their 8-digit number. The meta JSON gives each object's frame range
(``{"videos": {video: {"objects": {"<id>": {"frame_range": {"start", "end",
"frame_nums"}}}}}}``); an object is given at its ``start`` frame, which may be late,
and may vanish and come back inside its range. Annotations (every 5th frame in the
released sets) are ground truth in ``train`` and ``valid``; ``test`` only gives the
masks where objects start. The official protocol (``vosbench eval --mode lvos``)
scores each object over its own range; ``vosbench.eval.lvos`` says how.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from vosbench.data.files import FileVideo, annotations_by_frame, list_images, read_json
from vosbench.data.video import Dataset, select_sequences
from vosbench.errors import VosbenchError


@dataclass(frozen=True)
class FrameRange:
    """An object's frames, by number: ``start`` .. ``end`` (both annotated) and the
    count ``frame_nums`` the meta states (the official scorer sizes its arrays by it)."""

    start: int
    end: int
    frame_nums: int


def read_lvos_meta(path: Path) -> dict[str, dict[int, FrameRange]]:
    """video -> {object id -> its frame range}, from an LVOS ``<split>_meta.json``."""
    meta = read_json(
        path,
        "LVOS meta file",
        lambda data: {
            str(video): {
                int(key): FrameRange(*(int(entry["frame_range"][k]) for k in ("start", "end", "frame_nums")))
                for key, entry in value["objects"].items()
            }
            for video, value in data["videos"].items()
        },
        '{"videos": {video: {"objects": {"<id>": {"frame_range": {"start", "end", "frame_nums"}}}}}}',
    )
    for video, objects in meta.items():
        bad = [i for i, r in objects.items() if not 1 <= i <= 255 or r.end < r.start or r.frame_nums < 1]
        if not objects or bad:
            raise VosbenchError(
                f"{path}: video {video} needs objects, each with an id in 1..255 and start <= end; "
                f"got ids {sorted(objects)}, bad {bad}"
            )
    return meta


class LvosDataset(Dataset):
    """LVOS (v1 or v2: the same layout), one split."""

    protocol = "lvos"
    family = "lvos"

    def __init__(self, root: str | Path, split: str = "valid", sequences: Iterable[str] | None = None) -> None:
        self.root = Path(root)
        self.split = split
        self.name = f"lvos-{split}"
        self.folder = self.root / split
        self.meta_path = self.folder / f"{split}_meta.json"
        self.meta = read_lvos_meta(self.meta_path)
        self._sequences = select_sequences(sorted(self.meta), sequences, str(self.meta_path))
        for video in self._sequences:
            folder = self.folder / "JPEGImages" / video
            if not folder.is_dir():
                raise VosbenchError(f"{folder}: frames folder of {video} (listed in {self.meta_path}) not found")

    def video(self, sequence: str) -> FileVideo:
        self._check_sequence(sequence)
        frames = list_images(self.folder / "JPEGImages" / sequence, (".jpg", ".jpeg"), "frames")
        index = {_number(p): i for i, p in enumerate(frames)}
        annotations = self.folder / "Annotations" / sequence
        first_frame, given = {}, {}
        for object_id, frame_range in self.meta[sequence].items():
            if frame_range.start not in index:
                raise VosbenchError(
                    f"{frames[0].parent / f'{frame_range.start:08d}.jpg'}: frame where object {object_id} starts "
                    f"(in {self.meta_path}) not found"
                )
            first = first_frame[object_id] = index[frame_range.start]
            given[first] = annotations / f"{frames[first].stem}.png"
            if not given[first].is_file():
                raise VosbenchError(f"{given[first]}: annotation where object {object_id} starts not found")
        gt = {} if self.split == "test" else annotations_by_frame(annotations, frames)
        return FileVideo(sequence, frames, given, gt, first_frame=first_frame)


def _number(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        raise VosbenchError(f"{path}: LVOS frames are named by their number (00000001.jpg); rename or remove this file") from None
