"""A fast, exact decoder for the PNGs annotations are stored in: 8-bit, one channel.

``decode`` gives what Pillow's ``np.asarray(Image.open(file))`` gives for a palette
(``P``: the indices) or greyscale (``L``) PNG of bit depth 8 without interlacing, and
``None`` for everything else: other colour types or depths, interlacing, chunks it does
not know to be harmless, a bad CRC, a truncated file or zlib stream, data of the wrong
length. ``None`` means "let Pillow read it", so whatever it cannot vouch for keeps
Pillow's result and Pillow's error.

Where the time goes: inflating (zlib-ng's inflate is several times the system zlib's)
and undoing the row filters with numpy: PNG's None, Sub and Up filters are plain
(uint8, wrapping) running sums, along the row or down the columns; Paeth and Average
rows take a short scalar loop (see ``_paeth_row``).
"""

from __future__ import annotations

import struct

import numpy as np
from PIL import Image

try:
    from zlib_ng import zlib_ng as _zlib
except ImportError:  # same bytes from the standard library's inflate, only slower
    import zlib as _zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"

_GREYSCALE, _PALETTE = 0, 3

# Chunks that cannot change the pixels, with the lengths the PNG specification allows
# them in an 8-bit greyscale / palette image. A chunk not listed, or of another length,
# sends the file to Pillow, whose handlers reject some (a palette over 256 entries, say).
_HARMLESS: dict[bytes, dict[int, range]] = {
    b"PLTE": {_PALETTE: range(3, 769, 3)},
    b"tRNS": {_PALETTE: range(257), _GREYSCALE: range(2, 3)},
    b"gAMA": {_PALETTE: range(4, 5), _GREYSCALE: range(4, 5)},
    b"cHRM": {_PALETTE: range(32, 33), _GREYSCALE: range(32, 33)},
    b"sRGB": {_PALETTE: range(1, 2), _GREYSCALE: range(1, 2)},
    b"pHYs": {_PALETTE: range(9, 10), _GREYSCALE: range(9, 10)},
    b"tIME": {_PALETTE: range(7, 8), _GREYSCALE: range(7, 8)},
    b"bKGD": {_PALETTE: range(1, 2), _GREYSCALE: range(2, 3)},
    b"sBIT": {_PALETTE: range(3, 4), _GREYSCALE: range(1, 2)},
}

# Filter types (PNG specification, section 9.2).
_NONE, _SUB, _UP, _AVERAGE, _PAETH = range(5)

_CHUNK = 64 * 1024  # bytes inflated at a time: below glibc's threshold for mmap


def decode(data: bytes) -> np.ndarray | None:
    """The pixels of an 8-bit single-channel PNG file's bytes, uint8 [H, W]; else None."""
    parsed = _parse(data)
    if parsed is None:
        return None
    height, width, idat = parsed
    inflated = _inflate(idat, height, width)
    if inflated is None:
        return None
    kinds, pixels = inflated
    return pixels if _unfilter(kinds, pixels) else None


def _parse(data: bytes) -> tuple[int, int, bytes] | None:
    """(height, width, the IDAT data joined) of a file ``decode`` takes on, else None.

    Every chunk's CRC is checked, IDAT's included (Pillow skips those: a bad one only
    costs the fast path). Whatever follows IEND is never read, as by Pillow.
    """
    if not data.startswith(SIGNATURE):
        return None
    chunks = _chunks(data)
    if chunks is None or not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        return None
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if (depth, compression, filtering, interlace) != (8, 0, 0, 0) or colour not in (_GREYSCALE, _PALETTE):
        return None
    limit = Image.MAX_IMAGE_PIXELS  # above it Pillow warns or refuses: let it
    if not 0 < width < 2**31 or not 0 < height < 2**31 or (limit is not None and width * height > limit):
        return None
    kinds = [kind for kind, _ in chunks]
    if b"IDAT" not in kinds or kinds[-1] != b"IEND":
        return None
    first = kinds.index(b"IDAT")
    last = first
    while kinds[last + 1] == b"IDAT":
        last += 1
    if last + 2 != len(kinds):  # only IEND may follow the (consecutive) IDAT chunks
        return None
    for kind, body in chunks[1:first]:
        if len(body) not in _HARMLESS.get(kind, {}).get(colour, ()):
            return None
    return height, width, b"".join(body for _, body in chunks[first : last + 1])


def _chunks(data: bytes) -> list[tuple[bytes, memoryview]] | None:
    """(type, body) of every chunk up to IEND; None when one is cut short or its CRC is wrong."""
    view = memoryview(data)
    chunks = []
    pos = len(SIGNATURE)
    while True:
        if pos + 12 > len(data):
            return None
        (length,) = struct.unpack_from(">I", data, pos)
        end = pos + 8 + length
        if end + 4 > len(data):
            return None
        if _zlib.crc32(view[pos + 4 : end]) != struct.unpack_from(">I", data, end)[0]:
            return None
        kind = data[pos + 4 : pos + 8]
        chunks.append((kind, view[pos + 8 : end]))
        if kind == b"IEND":
            return chunks
        pos = end + 4


def _inflate(stream: bytes, height: int, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(filter type of each row, the filtered rows [H, W]) from the zlib ``stream`` of the
    IDAT chunks; None unless it is complete, clean and exactly H rows of 1 + W bytes.

    It is inflated a few dozen kilobytes at a time straight into the output array: one
    temporary of the whole image's size, allocated and freed per file, costs the kernel
    a fresh page for every 4 KiB (glibc hands such blocks back at once), which took
    longer than the inflating itself.
    """
    kinds = np.empty(height, dtype=np.uint8)
    pixels = np.empty((height, width), dtype=np.uint8)
    inflater = _zlib.decompressobj()
    step = max(1, _CHUNK // (width + 1))
    try:
        for start in range(0, height, step):
            rows = min(step, height - start)
            part = inflater.decompress(stream, rows * (width + 1))
            stream = inflater.unconsumed_tail
            if len(part) != rows * (width + 1):
                return None
            part = np.frombuffer(part, dtype=np.uint8).reshape(rows, width + 1)
            kinds[start : start + rows] = part[:, 0]
            pixels[start : start + rows] = part[:, 1:]
        beyond = inflater.decompress(stream, 1)  # nothing may follow, and the stream must end
    except _zlib.error:
        return None
    if beyond or not inflater.eof or inflater.unused_data:
        return None
    return kinds, pixels


def _unfilter(kinds: np.ndarray, rows: np.ndarray) -> bool:
    """Undo the PNG row filters in place (one byte per pixel); False on a filter type
    that does not exist or when the scalar work exceeds its budget.

    All arithmetic is uint8 and wraps, as PNG's does. None rows are their filtered bytes
    and Sub rows need nothing from the row above, so all Sub rows are done at once. The
    rest go top to bottom: an Up row is the row above plus its own bytes, and Paeth and
    Average rows, which depend on their left neighbour in a way no running sum gives,
    take a scalar loop each. Past a budget of scalar steps (busy, non-mask images)
    Pillow's C loop is faster, and ``decode`` leaves the file to it.
    """
    height, width = rows.shape
    if kinds.max() > _PAETH:
        return False
    sub = np.flatnonzero(kinds == _SUB)
    if sub.size:
        block = rows[sub]
        _running_sums(block)
        rows[sub] = block
    budget = 4096 + height * width // 256  # scalar steps; masks need a few per Paeth row
    zeros = np.zeros(width, dtype=np.uint8)  # the row above the first
    starts = (np.flatnonzero(kinds[1:] != kinds[:-1]) + 1).tolist()
    for start, end, kind in zip([0, *starts], [*starts, height], kinds[[0, *starts]].tolist()):
        if kind == _UP:
            above = rows[start - 1] if start else zeros
            for row in rows[start:end]:
                row += above
                above = row
        elif kind in (_PAETH, _AVERAGE):
            undo = _paeth_row if kind == _PAETH else _average_row
            for index in range(start, end):
                budget = undo(rows[index], rows[index - 1] if index else zeros, budget)
                if budget < 0:
                    return False
    return True


def _running_sums(block: np.ndarray) -> None:
    """Running sums along the rows of a 2-D block, in place, by doubling.

    log2(width) whole-block additions: numpy's cumsum of uint8 is a scalar loop, several
    times slower. An addition whose operands overlap reads them as they were before it,
    as numpy guarantees.
    """
    step = 1
    while step < block.shape[1]:
        block[:, step:] += block[:, :-step]
        step *= 2


def _paeth_row(row: np.ndarray, above: np.ndarray, budget: int) -> int:
    """Undo the Paeth filter of one row in place (``row``: filtered bytes in, pixels out).

    The Paeth predictor is the left neighbour a wherever the pixels above (b) and above
    left (c) are equal, so there a pixel's increment over its left neighbour is just its
    filtered byte. Only the first column and the columns where the row above changes
    (b != c, few in a mask) need the true predictor: a scalar loop walks them, tracking
    the true pixel to their left with the sums of the filtered bytes in between, and
    writes their true increments; one running sum then gives the row. The row above is
    constant between those columns, so each one's c is the previous one's b.
    Returns the budget left.
    """
    columns = np.empty(row.size, dtype=bool)
    columns[0] = True
    np.not_equal(above[1:], above[:-1], out=columns[1:])
    columns = columns.nonzero()[0]
    budget -= columns.size - 1
    if budget < 0:
        return budget
    # runs: each column's filtered byte plus those up to the next column (mod 256)
    runs = np.add.reduceat(row, columns, dtype=np.uint8).tolist()
    a = c = 0  # left of the first column, and above-left of it
    increments = []
    for f, b, run in zip(row[columns].tolist(), above[columns].tolist(), runs):
        if b == c:
            predictor = a
        else:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            predictor = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        pixel = (f + predictor) & 255
        increments.append((pixel - a) & 255)
        a, c = (pixel + run - f) & 255, b
    row[columns] = increments
    np.add.accumulate(row, out=row)
    return budget


def _average_row(row: np.ndarray, above: np.ndarray, budget: int) -> int:
    """Undo the Average filter of one row in place (rare in masks: one scalar step a pixel)."""
    budget -= row.size
    if budget < 0:
        return budget
    left = 0
    pixels = []
    for f, b in zip(row.tolist(), above.tolist()):
        left = (f + ((left + b) >> 1)) & 255
        pixels.append(left)
    row[:] = pixels
    return budget
