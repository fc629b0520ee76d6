"""Mask I/O: indexed PNGs with the DAVIS palette, and object-id bookkeeping.

A mask in memory is a ``uint8`` array [H, W] whose value is an object id (0 =
background). Datasets decide what their raw values mean (DAVIS 2016's 0/255, say);
this module reads and writes what is stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vosbench import png
from vosbench.atomic import atomic_file
from vosbench.errors import VosbenchError


def _voc_palette() -> np.ndarray:
    # The PASCAL VOC colour map, which DAVIS and YouTube-VOS use: bit k of the index
    # goes, three bits at a time, into the high bits of R, G and B.
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette[index] = (r, g, b)
    return palette


DAVIS_PALETTE: np.ndarray = _voc_palette()
"""[256, 3] uint8: colour of each object id in DAVIS / YouTube-VOS annotations."""

BOMB = (
    f"its header claims more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels, which Pillow refuses to decode "
    "(a guard against decompression bombs); the file is damaged or not a frame: replace it"
)
"""Why an image file whose header claims an absurd size is refused (after its path)."""


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read an annotation PNG as object ids, uint8 [H, W].

    Palette (``P``) images give their indices, greyscale images their values, and RGB
    images are mapped back through the DAVIS palette (every colour must be in it).
    8-bit palette and greyscale PNGs, what annotations are, go through the fast exact
    decoder in ``vosbench.png``; everything it declines, Pillow reads (or rejects).
    """
    pixels = _decode_fast(path)
    return pixels if pixels is not None else _read_with_pillow(Path(path))


def _decode_fast(path: str | os.PathLike) -> np.ndarray | None:
    """``vosbench.png.decode`` of the file, or None when it is not for it (or unreadable)."""
    # os-level reads: a buffered file object costs more than the two system calls
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # Pillow's path names the problem
    try:
        if os.pread(fd, len(png.SIGNATURE), 0) != png.SIGNATURE:
            return None
        data = os.read(fd, os.fstat(fd).st_size + 1)  # a short read is a damaged file to the decoder
    except OSError:
        return None
    finally:
        os.close(fd)
    return png.decode(data)


def _read_with_pillow(path: Path) -> np.ndarray:
    """``read_mask`` through Pillow: every PNG it can open, and a one-line error for the rest."""
    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                raise VosbenchError(f"{path}: not a PNG file ({image.format}); masks must be PNG")
            image.load()
            mode = image.mode
            if mode in ("P", "L"):
                return _pixels(image)
            if mode == "1":
                return np.asarray(image, dtype=np.uint8)
            if mode in ("I;16", "I", "I;16B"):
                values = np.asarray(image)
                if values.max(initial=0) > 255:
                    raise VosbenchError(f"{path}: mask values above 255; expected object ids 0..255")
                return values.astype(np.uint8)
            if mode in ("RGB", "RGBA"):
                return _rgb_to_ids(np.asarray(image.convert("RGB")), path)
            raise VosbenchError(f"{path}: unsupported PNG mode {mode}; save masks as palette or greyscale PNG")
    except FileNotFoundError:
        raise VosbenchError(f"{path}: mask file not found") from None
    except Image.DecompressionBombError:
        raise VosbenchError(f"{path}: {BOMB}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise VosbenchError(f"{path}: cannot read mask ({error}); replace the corrupt file") from None


def _pixels(image: Image.Image) -> np.ndarray:
    """A read-only uint8 [H, W] view of a decoded 8-bit single-band image.

    Pillow's Arrow export hands over its pixel buffer as it is; ``np.asarray`` goes
    through ``tobytes`` (encode in chunks, then join), which costs as much as a good
    part of the PNG decoding. An image Pillow holds in several memory blocks cannot be
    exported that way and takes the ``np.asarray`` route.
    """
    import pyarrow

    try:
        flat = pyarrow.array(image).to_numpy(zero_copy_only=True)
    except (ValueError, TypeError, pyarrow.ArrowException):
        return np.asarray(image, dtype=np.uint8)
    return flat.reshape(image.height, image.width)


def _rgb_to_ids(rgb: np.ndarray, path: Path) -> np.ndarray:
    code = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    palette_code = (DAVIS_PALETTE[:, 0].astype(np.int32) << 16) | (DAVIS_PALETTE[:, 1].astype(np.int32) << 8) | DAVIS_PALETTE[:, 2]
    lookup = {int(c): i for i, c in reversed(list(enumerate(palette_code)))}
    colours, inverse = np.unique(code, return_inverse=True)
    ids = np.empty(len(colours), dtype=np.uint8)
    for k, colour in enumerate(colours):
        if int(colour) not in lookup:
            raise VosbenchError(
                f"{path}: RGB colour {int(colour) >> 16, (int(colour) >> 8) & 255, int(colour) & 255} "
                "is not in the DAVIS palette; save the mask as a palette PNG of object ids"
            )
        ids[k] = lookup[int(colour)]
    return ids[inverse].reshape(rgb.shape[:2])


def write_mask(path: str | os.PathLike, mask: np.ndarray, palette: np.ndarray = DAVIS_PALETTE) -> None:
    """Write object ids as a palette PNG (atomically: a reader never sees half a file)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise VosbenchError(f"{path}: a mask must be 2-D [H, W], got shape {mask.shape}")
    if mask.dtype != np.uint8:
        if mask.size and (mask.min() < 0 or mask.max() > 255):
            raise VosbenchError(f"{path}: object ids must lie in 0..255")
        mask = mask.astype(np.uint8)
    image = Image.fromarray(mask, mode="P")
    image.putpalette(palette.astype(np.uint8).ravel().tolist())
    with atomic_file(path) as tmp:
        image.save(tmp, format="PNG")


@dataclass(frozen=True)
class ObjectIds:
    """Maps a video's dataset object ids (any, possibly not consecutive) to 1..K.

    Index 0 is the background; ``ids[k - 1]`` is the dataset id of contiguous object k.
    """

    ids: tuple[int, ...]

    def __post_init__(self) -> None:
        if any(i <= 0 or i > 255 for i in self.ids) or len(set(self.ids)) != len(self.ids):
            raise ValueError(f"object ids must be distinct and in 1..255, got {self.ids}")

    @classmethod
    def from_masks(cls, *masks: np.ndarray) -> "ObjectIds":
        found: set[int] = set()
        for mask in masks:
            found.update(int(v) for v in np.unique(mask) if v != 0)
        return cls(tuple(sorted(found)))

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, object_id: int) -> int:
        try:
            return self.ids.index(object_id) + 1
        except ValueError:
            raise VosbenchError(f"object id {object_id} is not one of this video's objects {list(self.ids)}") from None

    def to_contiguous(self, mask: np.ndarray) -> np.ndarray:
        """Dataset ids -> 0..K. Values that are not objects of the video raise."""
        table = np.full(256, 255, dtype=np.uint8)
        table[0] = 0
        for k, object_id in enumerate(self.ids, start=1):
            table[object_id] = k
        out = table[mask]
        if (out == 255).any():
            unknown = sorted(set(np.unique(mask[out == 255]).tolist()))
            raise VosbenchError(f"mask holds object ids {unknown} that are not this video's objects {list(self.ids)}")
        return out

    def to_dataset(self, labels: np.ndarray) -> np.ndarray:
        """Contiguous 0..K -> dataset ids."""
        table = np.zeros(len(self.ids) + 1, dtype=np.uint8)
        table[1:] = self.ids
        return table[labels]
