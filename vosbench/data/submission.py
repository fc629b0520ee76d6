"""Predictions in the layouts the benchmarks read.

- ``davis``: ``<out>/<sequence>/<frame>.png``, what davis2017-evaluation reads.
- ``youtube``: ``<out>/Annotations/<video>/<frame>.png``, then ``zip_youtube`` packs the
  ``Annotations/`` tree into the zip the YouTube-VOS challenge server takes.

A sequence is written into a temporary folder and moved into place when every frame it
must hold is there, so a sequence folder is complete or absent. Masks are palette PNGs
of the dataset's own object ids.
"""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from vosbench.atomic import atomic_dir, atomic_file
from vosbench.data.video import Video
from vosbench.errors import VosbenchError
from vosbench.masks import write_mask

LAYOUTS = ("davis", "youtube")


def sequence_folder(out: str | Path, sequence: str, layout: str) -> Path:
    """Where ``layout`` puts the predictions of ``sequence`` under ``out``."""
    if layout not in LAYOUTS:
        raise VosbenchError(f"unknown prediction layout {layout!r}; known: {', '.join(LAYOUTS)}")
    out = Path(out)
    return out / sequence if layout == "davis" else out / "Annotations" / sequence


class SequenceWriter:
    """Takes a video's predicted labels frame by frame (see ``write_sequence``)."""

    def __init__(self, folder: Path, video: Video, frames: int | None = None) -> None:
        self._folder = folder
        self._video = video
        self._names = video.frame_names
        limit = len(self._names) if frames is None else frames
        self._scored = frozenset(i for i in video.output_frames if i < limit)
        self._pending = set(self._scored)

    def write(self, index: int, labels: np.ndarray) -> None:
        """Store frame ``index``'s labels: uint8 [H, W], contiguous 0..K as methods predict.

        Frames the dataset does not score (YouTube-VOS in-between frames) are skipped.
        """
        if index not in self._scored:
            return
        info = self._video.info
        labels = np.asarray(labels)
        if labels.shape != info.size:
            raise VosbenchError(
                f"{info.name} frame {self._names[index]}: prediction is {labels.shape} but the video is {info.size}"
            )
        if labels.size and (labels.min() < 0 or labels.max() > len(info.objects)):
            raise VosbenchError(
                f"{info.name} frame {self._names[index]}: labels must lie in 0..{len(info.objects)} "
                f"(the video's objects), got {int(labels.min())}..{int(labels.max())}"
            )
        write_mask(self._folder / f"{self._names[index]}.png", info.objects.to_dataset(labels))
        self._pending.discard(index)

    def missing(self) -> list[str]:
        return [self._names[i] for i in sorted(self._pending)]


@contextlib.contextmanager
def write_sequence(
    out: str | Path, video: Video, layout: str = "davis", frames: int | None = None
) -> Iterator[SequenceWriter]:
    """``with write_sequence(out, video) as sink: sink.write(index, labels)`` for each frame.

    ``frames``: only the first ``frames`` frames are run (a run with --max-frames).

    The sequence folder appears when the block ends with every scored frame written; an
    exception, or a frame left out, leaves the previous content (or nothing) in place.
    """
    folder = sequence_folder(out, video.name, layout)
    with atomic_dir(folder) as tmp:
        sink = SequenceWriter(tmp, video, frames)
        yield sink
        missing = sink.missing()
        if missing:
            raise VosbenchError(
                f"{folder}: not written, no prediction for {len(missing)} frames ({', '.join(missing[:5])}...)"
            )


def zip_youtube(out: str | Path, zip_path: str | Path | None = None, videos: Iterable[str] | None = None) -> Path:
    """Pack ``<out>/Annotations`` into ``zip_path`` (default ``<out>.zip``) for the challenge server.

    The zip's top-level folder is ``Annotations/``. With ``videos``, each must be there.
    """
    out = Path(out)
    annotations = out / "Annotations"
    zip_path = Path(zip_path) if zip_path is not None else out.with_name(f"{out.name}.zip")
    if not annotations.is_dir():
        raise VosbenchError(f"{annotations}: no predictions to zip; write the YouTube-VOS layout first")
    # Hidden folders are sequences still being written.
    folders = sorted(p for p in annotations.iterdir() if p.is_dir() and not p.name.startswith("."))
    missing = sorted(set(videos or ()) - {p.name for p in folders})
    if missing:
        raise VosbenchError(f"{annotations}: no predictions for {len(missing)} videos ({', '.join(missing[:5])}); run them first")
    if not folders:
        raise VosbenchError(f"{annotations}: no video folders to zip")
    with atomic_file(zip_path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for folder in folders:
                for png in sorted(folder.glob("*.png")):
                    archive.write(png, f"Annotations/{folder.name}/{png.name}")
    return zip_path
