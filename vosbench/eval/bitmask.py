"""Binary masks of one box, packed 64 pixels to a word, and the operations J and F need.

A ``Box`` is the part of a frame where the masks being compared can have pixels or
boundary pixels; outside it every mask is empty, so counts taken in the box equal
full-frame counts. Each mask becomes one row of a uint64 array [masks, words]: the box's
rows one after another, packed little-endian (bit i of word j is pixel 64 j + i of the
row-major box), each row padded with zeros to a whole number of words and by at least
``radius`` columns, so that moving pixels sideways by up to ``radius`` never carries them
into the next row. Stacking all masks of a frame in one array lets every step below be
one numpy call for all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

WORD = 64


@dataclass(frozen=True)
class Box:
    """Rows ``y0 .. y0 + rows - 1`` and columns ``x0 .. x0 + cols - 1`` of a frame of
    ``height`` x ``width``, packed ``words_per_row`` words to a row."""

    y0: int
    x0: int
    rows: int
    cols: int
    height: int
    width: int
    words_per_row: int

    @classmethod
    def around(cls, bbox: tuple[int, int, int, int], shape: tuple[int, int], radius: int) -> "Box":
        """The box for masks whose pixels lie in ``bbox`` (y0, y1, x0, x1 inclusive).

        A boundary pixel can sit one row above or one column left of a mask pixel
        (seg2bmap marks the pixel before a change), so the box starts one earlier.
        """
        height, width = shape
        y0, y1, x0, x1 = bbox
        y0, x0 = max(y0 - 1, 0), max(x0 - 1, 0)
        cols = x1 + 1 - x0
        words = -(-(cols + max(radius, 1)) // WORD)
        return cls(y0, x0, y1 + 1 - y0, cols, height, width, words)

    @property
    def body_words(self) -> int:
        """Words of the box itself (``pack`` adds one more row)."""
        return self.rows * self.words_per_row

    def pack(self, planes: Sequence[tuple[np.ndarray, int]]) -> np.ndarray:
        """Pack the masks ``labels == value`` for each (labels [height, width], value).

        Each is packed over the box plus one extra row and column: the pixels just past
        the box or, at the image's bottom or right edge, a copy of the last ones
        (seg2bmap's rule that those edges are not boundaries). Returns uint64
        [len(planes), (rows + 1) * words_per_row].
        """
        rows, cols = self.rows, self.cols
        y1, x1 = self.y0 + rows, self.x0 + cols  # exclusive ends
        extra_row, extra_col = min(y1, self.height - 1), min(x1, self.width - 1)
        buffer = np.zeros((len(planes), rows + 1, self.words_per_row * WORD), dtype=bool)
        for plane, (labels, value) in zip(buffer, planes):
            np.equal(labels[self.y0 : y1, self.x0 : x1], value, out=plane[:rows, :cols])
            np.equal(labels[self.y0 : y1, extra_col], value, out=plane[:rows, cols])
            np.equal(labels[extra_row, self.x0 : x1], value, out=plane[rows, :cols])
            plane[rows, cols] = labels[extra_row, extra_col] == value
        packed = np.packbits(buffer.reshape(len(planes), -1), axis=-1, bitorder="little")
        return packed.view("<u8")

    def keep_columns(self, words: np.ndarray) -> np.ndarray:
        """Clear the padding and the extra column in every row of ``words`` (in place)."""
        rows = words.reshape(*words.shape[:-1], self.rows, self.words_per_row, copy=False)  # a view, or raise
        rows &= _columns(self.cols, self.words_per_row)
        return words


@lru_cache(maxsize=None)
def _columns(cols: int, words_per_row: int) -> np.ndarray:
    """The words of one packed row with its first ``cols`` pixels set."""
    row = np.zeros(words_per_row * WORD, dtype=bool)
    row[:cols] = True
    words = np.packbits(row, bitorder="little").view("<u8")
    words.flags.writeable = False
    return words


def popcount(words: np.ndarray) -> np.ndarray:
    """Set pixels of each mask: int64 [masks]."""
    return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)


def body(packed: np.ndarray, box: Box) -> np.ndarray:
    """The box's own pixels of packed masks (without the extra row and column)."""
    return box.keep_columns(packed[..., : box.body_words].copy())


def boundary(packed: np.ndarray, box: Box) -> np.ndarray:
    """seg2bmap on packed masks: a pixel differs from its east, south or south-east
    neighbour. The extra row and column of ``Box.pack`` supply the neighbours past the
    box, so the result equals the full-frame boundary inside the box."""
    n, stride = box.body_words, box.words_per_row
    east = shift(packed, -1)
    here = packed[..., :n]
    out = here ^ east[..., :n]
    out |= here ^ packed[..., stride:]
    out |= here ^ east[..., stride:]
    return box.keep_columns(out)


def shift(words: np.ndarray, k: int) -> np.ndarray:
    """Move every pixel ``k`` places along the packed rows (k > 0 right, k < 0 left),
    0 < |k| < 64; pixels that leave the array are dropped."""
    if k > 0:
        out = words << k
        out[..., 1:] |= words[..., :-1] >> (WORD - k)
    else:
        out = words >> -k
        out[..., :-1] |= words[..., 1:] << (WORD + k)
    return out


def widen(words: np.ndarray, k: int) -> np.ndarray:
    """Every pixel also sets the ``k`` pixels on each side of it in its row.

    Only the pixels at exactly +-k are added, so on runs of half-width w this gives
    runs of half-width w + k without gaps while k <= 2 w + 1.
    """
    out = words << k
    out |= words >> k
    out |= words
    out[..., 1:] |= words[..., :-1] >> (WORD - k)  # bits carried into the next word
    out[..., :-1] |= words[..., 1:] << (WORD - k)  # and into the previous one
    return out


def dilate(words: np.ndarray, words_per_row: int, radius: int) -> np.ndarray:
    """Dilation of packed masks by the digital disk x^2 + y^2 <= radius^2.

    Row dy of the disk is the run |dx| <= isqrt(r^2 - dy^2): widen every pixel into
    runs of the few half-widths needed, then OR each run into the rows it covers.
    """
    steps, half_widths = _disk_plan(radius)
    runs = {0: words}
    for base, k in steps:
        runs[base + k] = widen(runs[base], k)
    out = runs[half_widths[0]].copy()
    n = out.shape[-1]
    for dy in range(1, radius + 1):
        offset = dy * words_per_row
        if offset >= n:
            break
        run = runs[half_widths[dy]]
        out[..., offset:] |= run[..., :-offset]
        out[..., :-offset] |= run[..., offset:]
    return out


@lru_cache(maxsize=None)
def _disk_plan(radius: int) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    """(steps, half_widths): half_widths[dy] is the disk's half-width in row dy; each
    step (base, k) widens runs of half-width ``base`` by ``k`` (see ``widen``)."""
    if not 0 <= radius < WORD:
        raise ValueError(f"boundary tolerance of {radius} px is out of range (0 to {WORD - 1})")
    half_widths = tuple(math.isqrt(radius * radius - dy * dy) for dy in range(radius + 1))
    steps: list[tuple[int, int]] = []
    reached = 0
    for target in sorted(set(half_widths) - {0}):
        while target - reached > 2 * reached + 1:
            steps.append((reached, 2 * reached + 1))
            reached = 3 * reached + 1
        steps.append((reached, target - reached))
        reached = target
    return tuple(steps), half_widths
