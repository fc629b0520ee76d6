"""YouTube-VOS 2018 and 2019: ``<root>/<split>/{JPEGImages,Annotations}/<video>`` and ``meta.json``.

``meta.json`` names each video's objects (ids need not be consecutive) and the frames
they appear in; an object is given at the first of them, which may be late in the video.
In ``train`` every annotation is ground truth. In ``valid`` (and ``test``) the
annotations only give objects where they first appear; ground truth, which is not
public, is read from ``<root>/<split>_gt/Annotations`` when that folder exists.
``all_frames`` runs on ``<root>/<split>_all_frames`` (every frame, where ``<split>`` has
every 5th) while predictions are still written for ``<split>``'s frames only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from vosbench.data.files import FileVideo, annotations_by_frame, list_images, read_json
from vosbench.data.video import Dataset, select_sequences
from vosbench.errors import VosbenchError

VERSIONS = (2018, 2019)


def read_meta(path: Path) -> dict[str, dict[int, list[str]]]:
    """video -> {object id -> names of the frames it appears in} from a ``meta.json``."""
    meta = read_json(
        path,
        "YouTube-VOS meta.json",
        lambda data: {
            str(video): {int(key): [str(f) for f in entry["frames"]] for key, entry in value["objects"].items()}
            for video, value in data["videos"].items()
        },
        '{"videos": {video: {"objects": {"<id>": {"frames": [...]}}}}}',
    )
    for video, objects in meta.items():
        bad = [i for i in objects if not 1 <= i <= 255]
        if not objects or bad or any(not frames for frames in objects.values()):
            raise VosbenchError(
                f"{path}: video {video} needs objects, each with an id in 1..255 and at least one frame; "
                f"got ids {sorted(objects)}"
            )
    return meta


class YouTubeDataset(Dataset):
    """YouTube-VOS ``version`` (2018 or 2019), one split."""

    prediction_layout = "youtube"
    protocol = "youtube"
    family = "youtube"

    def __init__(
        self,
        root: str | Path,
        split: str = "valid",
        version: int = 2019,
        all_frames: bool = False,
        sequences: Iterable[str] | None = None,
    ) -> None:
        if version not in VERSIONS:
            raise VosbenchError(f"YouTube-VOS version {version} is not one of {list(VERSIONS)}")
        self.root = Path(root)
        self.split = split
        self.all_frames = all_frames
        self.name = f"youtube{version}-{split}"
        self._meta_path = self.root / split / "meta.json"
        self._meta = read_meta(self._meta_path)
        self._sequences = select_sequences(sorted(self._meta), sequences, str(self._meta_path))
        if all_frames and not self._frames_root(True).is_dir():
            raise VosbenchError(
                f"{self._frames_root(True)}: not found; all_frames needs the {split}_all_frames download beside {split}"
            )
        for video in self._sequences:
            for folder in {self._frames_root(False) / video, self._frames_root(all_frames) / video}:
                if not folder.is_dir():
                    raise VosbenchError(f"{folder}: frames folder of {video} (listed in {self._meta_path}) not found")
        # Train annotations are the ground truth; the other splits only give first masks.
        if split == "train":
            self._gt_root: Path | None = self.root / split / "Annotations"
        else:
            hidden = self.root / f"{split}_gt" / "Annotations"
            self._gt_root = hidden if hidden.is_dir() else None

    def _frames_root(self, all_frames: bool) -> Path:
        return self.root / (f"{self.split}_all_frames" if all_frames else self.split) / "JPEGImages"

    def video(self, sequence: str) -> FileVideo:
        self._check_sequence(sequence)
        scored = list_images(self._frames_root(False) / sequence, (".jpg",), "frames")
        frames = list_images(self._frames_root(True) / sequence, (".jpg",), "frames") if self.all_frames else scored
        index = {p.stem: i for i, p in enumerate(frames)}
        scored_names = {p.stem for p in scored}
        for path in scored:
            if path.stem not in index:
                raise VosbenchError(f"{self._frames_root(True) / sequence / path.name}: frame missing from all frames")

        first_frame = {}
        for object_id, names in self._meta[sequence].items():
            missing = sorted(set(names) - scored_names)
            if missing:
                raise VosbenchError(
                    f"{self._frames_root(False) / sequence / missing[0]}.jpg: frame listed in {self._meta_path} "
                    f"for object {object_id} is missing"
                )
            first_frame[object_id] = index[min(names)]

        annotations_dir = self.root / self.split / "Annotations" / sequence
        given = {i: annotations_dir / f"{frames[i].stem}.png" for i in set(first_frame.values())}
        for path in given.values():
            if not path.is_file():
                raise VosbenchError(f"{path}: annotation where objects first appear not found")

        gt = {} if self._gt_root is None else annotations_by_frame(self._gt_root / sequence, frames, "ground-truth annotations")

        return FileVideo(
            name=sequence,
            frames=frames,
            given=given,
            gt=gt,
            first_frame=first_frame,
            output_frames=[index[p.stem] for p in scored],
        )
