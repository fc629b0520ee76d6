"""A video stored as image files: the one concrete ``Video`` behind every on-disk dataset.

Datasets differ only in where their files lie and what their raw mask values mean; they
list paths and hand them to ``FileVideo``, which reads a frame or a mask only when asked
and checks it (readable, the video's size, known object ids) as it reads.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from vosbench.data.video import Video, VideoInfo
from vosbench.errors import VosbenchError
from vosbench.masks import BOMB, ObjectIds, read_mask

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")

Decode = Callable[[np.ndarray], np.ndarray]
"""Raw annotation values -> dataset object ids (``ValueError`` for values it refuses)."""

T = TypeVar("T")


def read_json(path: Path, what: str, parse: Callable[[Any], T], expected: str) -> T:
    """``parse`` of the JSON file ``path`` (a dataset's ``what``, e.g. "YouTube-VOS
    meta.json"); a missing, unreadable or ill-shaped file raises one line naming it."""
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise VosbenchError(f"{path}: {path.name} not found; check the dataset root and the split name") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VosbenchError(f"{path}: cannot read {path.name} ({error}); replace the corrupt file") from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise VosbenchError(f"{path}: not a {what} ({type(error).__name__}: {error}); expected {expected}") from None


def list_images(folder: Path, suffixes: Iterable[str], what: str) -> list[Path]:
    """Files in ``folder`` with one of ``suffixes`` (any case), sorted by name; hidden files skipped.

    A missing or empty folder raises: every listing a dataset makes must find something.
    """
    if not folder.is_dir():
        raise VosbenchError(f"{folder}: {what} folder not found; check the dataset root and layout")
    wanted = tuple(s.lower() for s in suffixes)
    found = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in wanted and not p.name.startswith(".") and p.is_file()),
        key=lambda p: p.name,
    )
    if not found:
        raise VosbenchError(f"{folder}: no {what} ({', '.join(wanted)} files) in this folder")
    return found


def annotations_by_frame(folder: Path, frames: list[Path], what: str = "annotations") -> dict[int, Path]:
    """The PNGs in ``folder``, keyed by the index of their frame in ``frames``.

    An annotation without its frame is a frame listed but missing, and raises.
    """
    index = {p.stem: i for i, p in enumerate(frames)}
    found = {}
    for path in list_images(folder, (".png",), what):
        if path.stem not in index:
            raise VosbenchError(f"{path}: annotation has no frame {frames[0].parent / path.stem}{frames[0].suffix}; restore the frame")
        found[index[path.stem]] = path
    return found


@contextlib.contextmanager
def _open_image(path: Path) -> Iterator[Image.Image]:
    """``Image.open`` whose failures become one line naming the file."""
    try:
        with Image.open(path) as image:
            yield image
    except FileNotFoundError:
        raise VosbenchError(f"{path}: frame file not found; restore it or remove the video") from None
    except Image.DecompressionBombError:
        raise VosbenchError(f"{path}: {BOMB}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise VosbenchError(f"{path}: cannot read image ({error}); replace the corrupt file") from None


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file's header, without decoding the pixels."""
    with _open_image(path) as image:
        return image.height, image.width


def read_frame(path: Path, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 [H, W, 3] of an image file that must be ``size`` (height, width)."""
    with _open_image(path) as image:
        _check_frame_size(path, image, size)
        # A copy: methods may write into it, and Pillow's buffer is read-only.
        return np.array(image.convert("RGB"), dtype=np.uint8)


def read_frame_header(path: Path, size: tuple[int, int]) -> None:
    """Check from its header that an image file is readable and ``size`` (height, width)."""
    with _open_image(path) as image:
        _check_frame_size(path, image, size)


def _check_frame_size(path: Path, image: Image.Image, size: tuple[int, int]) -> None:
    if (image.height, image.width) != size:
        raise VosbenchError(
            f"{path}: frame is {image.height}x{image.width} but the video's first frame is "
            f"{size[0]}x{size[1]}; every frame of a video must have one size"
        )


def binary_to_ids(raw: np.ndarray) -> np.ndarray:
    """A 0/255 mask (the DAVIS 2016 layout) becomes object 1; object ids pass unchanged."""
    if raw.max(initial=0) == 255 and np.isin(raw, (0, 255)).all():
        return (raw == 255).astype(np.uint8)
    return raw


def single_object(raw: np.ndarray) -> np.ndarray:
    """A single-object mask (DAVIS 2016): 0/255 or 0/1, the object becoming id 1.

    Other values are refused (``ValueError``) rather than merged: the evaluator would
    score them as separate objects, and the two would disagree about what was segmented.
    """
    values = set(np.unique(raw).tolist())
    if not (values <= {0, 255} or values <= {0, 1}):
        raise ValueError(
            f"holds values {sorted(values - {0})}, but a DAVIS 2016 annotation holds one object (0/255); "
            "for several objects use the DAVIS 2017 layout (-d davis2017), else merge them into 255"
        )
    return (raw != 0).astype(np.uint8)


@dataclass(frozen=True)
class ObjectFiles:
    """One frame annotated one object to a file (SA-V): (object id, mask PNG) pairs.

    ``read`` merges them into one id mask, a pixel of the larger id where objects
    overlap (an id mask holds one object a pixel; SA-V's may overlap).
    """

    files: tuple[tuple[int, Path], ...]

    def __str__(self) -> str:
        return str(self.files[0][1])

    def read(self) -> np.ndarray:
        merged: np.ndarray | None = None
        for object_id, path in sorted(self.files):
            raw = read_mask(path)
            if merged is None:
                merged = np.zeros(raw.shape, dtype=np.uint8)
            elif raw.shape != merged.shape:
                raise VosbenchError(
                    f"{path}: mask is {raw.shape[0]}x{raw.shape[1]} but {self.files[0][1]} of the same frame is "
                    f"{merged.shape[0]}x{merged.shape[1]}; every object's mask must have the frame's size"
                )
            if np.count_nonzero(np.bincount(raw.ravel(), minlength=256)) > 2:
                raise VosbenchError(f"{path}: a per-object mask holds more than one object value; store one object per file")
            merged[raw != 0] = object_id
        return merged


Annotation = Union[Path, ObjectFiles]
"""Where one frame's annotation lies: one id mask, or one file per object."""


class FileVideo(Video):
    """A video whose frames and masks are image files.

    ``given`` maps a frame index to the annotation holding the objects first given there;
    ``decode`` turns stored values into object ids (default: they are the ids).
    Without ``first_frame`` (dataset id -> frame index), objects and their first frames are
    found by reading the given annotations in order (DAVIS: only frame 0's); with it, the
    given annotations are read only when the method asks for them.
    """

    def __init__(
        self,
        name: str,
        frames: list[Path],
        given: Mapping[int, Annotation],
        gt: Mapping[int, Annotation] | None = None,
        decode: Decode | None = None,
        first_frame: Mapping[int, int] | None = None,
        output_frames: list[int] | None = None,
    ) -> None:
        self._name = name
        self._frames = list(frames)
        self._given = dict(sorted(given.items()))
        self._gt = dict(sorted((gt or {}).items()))
        self._decode = decode or (lambda raw: raw)
        self._first_frame = dict(first_frame) if first_frame is not None else None
        self._output_frames = list(output_frames) if output_frames is not None else list(range(len(frames)))

    @cached_property
    def info(self) -> VideoInfo:
        height, width = image_size(self._frames[0])
        first = self._first_frame if self._first_frame is not None else self._find_objects()
        return VideoInfo(
            name=self._name,
            num_frames=len(self._frames),
            height=height,
            width=width,
            objects=ObjectIds(tuple(sorted(first))),
            first_frame=dict(sorted(first.items())),
        )

    def _find_objects(self) -> dict[int, int]:
        first: dict[int, int] = {}
        for index, path in self._given.items():
            for object_id in np.unique(self._decoded(path)).tolist():
                if object_id != 0:
                    first.setdefault(object_id, index)
        if not first:
            where = ", ".join(str(p) for p in self._given.values()) or self._name
            raise VosbenchError(f"{where}: the given annotation holds no object; nothing to segment")
        return first

    def check(self) -> None:
        """Every frame and annotation the right size, read from the file headers (about
        a millisecond a file), and the given masks' objects, before any frame is segmented."""
        super().check()
        for path in self._frames[1:]:
            read_frame_header(path, self.info.size)
        for annotation in self._gt.values():
            files = [path for _, path in annotation.files] if isinstance(annotation, ObjectFiles) else [annotation]
            for path in files:
                height, width = image_size(path)
                if (height, width) != self.info.size:
                    self._wrong_annotation_size(path, (height, width))

    def _wrong_annotation_size(self, path: Path, size: tuple[int, int]) -> None:
        raise VosbenchError(
            f"{path}: annotation is {size[0]}x{size[1]} but its frames are "
            f"{self.info.height}x{self.info.width}; the annotation must match its frame"
        )

    @property
    def frame_names(self) -> list[str]:
        return [p.stem for p in self._frames]

    def frame(self, index: int) -> np.ndarray:
        return read_frame(self._frames[index], self.info.size)

    def given_mask(self, index: int) -> np.ndarray | None:
        starting = [i for i, f in self.info.first_frame.items() if f == index]
        if not starting:
            return None
        path = self._given[index]
        mask = self._read(path)
        missing = sorted(set(starting) - set(np.unique(mask).tolist()))
        if missing:
            raise VosbenchError(f"{path}: objects {missing} should first appear here but the annotation does not show them")
        return np.where(np.isin(mask, starting), mask, 0).astype(np.uint8)

    @property
    def gt_frames(self) -> list[int]:
        return list(self._gt)

    def gt_mask(self, index: int) -> np.ndarray:
        if index not in self._gt:
            raise KeyError(f"{self._name}: no ground truth for frame {index}")
        return self._read(self._gt[index])

    @property
    def gt_folder(self) -> Path | None:
        if any(isinstance(path, ObjectFiles) for path in self._gt.values()):
            return None
        folders = {path.parent for path in self._gt.values()}
        return folders.pop() if len(folders) == 1 else None

    @property
    def output_frames(self) -> list[int]:
        return list(self._output_frames)

    def _decoded(self, annotation: Annotation) -> np.ndarray:
        try:
            return self._decode(_raw(annotation))
        except ValueError as error:
            raise VosbenchError(f"{annotation}: {error}") from None

    def _read(self, path: Annotation) -> np.ndarray:
        """An annotation in dataset ids, checked against the video's size and objects."""
        mask = self._decoded(path)
        info = self.info
        if mask.shape != info.size:
            self._wrong_annotation_size(path, mask.shape)
        unknown = sorted(set(np.unique(mask).tolist()) - {0, *info.objects.ids})
        if unknown:
            raise VosbenchError(
                f"{path}: object ids {unknown} are not among the video's objects {list(info.objects.ids)}; "
                "fix the annotation or the dataset's object list"
            )
        return mask


def _raw(annotation: Annotation) -> np.ndarray:
    return annotation.read() if isinstance(annotation, ObjectFiles) else read_mask(annotation)
