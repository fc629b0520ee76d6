"""A fast, exact decoder for the PNGs annotations are stored in: 8-bit, one channel.

``decode`` gives what Pillow's ``np.asarray(Image.open(file))`` gives for a palette
(``P``: the indices) or greyscale (``L``) PNG of bit depth 8 without interlacing, and
``None`` for everything else: other colour types or depths, interlacing, chunks it does
not know to be harmless, a bad CRC, a truncated file or zlib stream, data of the wrong
length. ``None`` means "let Pillow read it", so whatever it cannot vouch for keeps
Pillow's result and Pillow's error.

Where the time goes: inflating (zlib-ng's inflate is several times the system zlib's)
and undoing the row filters. PNG's None, Sub and Up filters are plain (uint8, wrapping)
running sums, along the row or down the columns, done with numpy; Paeth and Average
rows are walked in Python from one nonzero filtered byte or edge of the row above to
the next, which in a mask is a few steps a row (see ``_walk_paeth``). Files whose unfiltering
would cost more that way than Pillow's whole decoding (small or busy images, Paeth or
Average on many rows) have their inflated rows unfiltered by Pillow's own C code
instead (``_unfilter_in_pillow``), so no file costs more than Pillow alone.
"""

from __future__ import annotations

import re
import struct
from typing import NamedTuple

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

# The decoding here priced in pixels of Pillow's decoding, fitted over the DAVIS
# annotations and a few small PNGs with both decoders timed file by file in one run:
# about _FIXED_COST more per file than Pillow spends on its own per-file work,
# inflating and the numpy passes about a third of Pillow's time per pixel, then each row
# that needs the row above, each Paeth or Average row and each event of its walk (see
# ``_walk_paeth``). Files whose unfiltering would cost more than Pillow's decoding are
# unfiltered by Pillow's C code after our inflating (which alone is cheaper than Pillow's).
_FIXED_COST, _ROW_COST, _WALKED_ROW_COST, _EVENT_COST = 30_000, 300, 1_200, 400


def decode(data: bytes) -> np.ndarray | None:
    """The pixels of an 8-bit single-channel PNG file's bytes, uint8 [H, W]; else None."""
    parsed = _parse(data)
    if parsed is None:
        return None
    height, width, _, idat = parsed
    inflated = _inflate(idat, height, width)
    if inflated is None:
        return None
    kinds, pixels = inflated
    if not kinds.any():  # no row filtered, as many writers leave masks: nothing to undo
        return pixels
    walks = _walks(kinds, pixels)
    budget = _budget(height, width) - _cost(kinds, walks)
    # cheaper in Pillow's C loop than in numpy and Python; and a filter type that does
    # not exist, which Pillow's decoder reports
    if budget < 0 or kinds.max() > _PAETH:
        return pixels if _unfilter_in_pillow(kinds, pixels) else None
    done = _unfilter(kinds, pixels, budget, walks)
    if done == height:
        return pixels
    # a walk took longer than charged: Pillow's C loop finishes the rows from the one
    # above it on, passed as final (None) like the Sub rows, which are summed already
    top = max(done - 1, 0)
    rest = np.where(kinds[top:] == _SUB, _NONE, kinds[top:]).astype(np.uint8)
    if done:
        rest[0] = _NONE
    return pixels if _unfilter_in_pillow(rest, pixels[top:]) else None


def _parse(data: bytes) -> tuple[int, int, int, bytes] | None:
    """(height, width, colour type, the IDAT data joined) of a file ``decode`` takes on, else None.

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
    return height, width, colour, b"".join(body for _, body in chunks[first : last + 1])


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
    """(filter type of each row, the filtered rows [H, W]) from the zlib ``stream`` of
    the IDAT chunks; None unless it is complete, clean and exactly H rows of 1 + W bytes.

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


class _Walks(NamedTuple):
    """The Paeth and Average rows of an image and their nonzero filtered bytes: what
    ``_cost`` charges for and ``_unfilter`` walks from."""

    rows: np.ndarray  # their indices
    nonzero: np.ndarray  # flat positions of the nonzero bytes in the block of those rows
    values: np.ndarray  # those bytes


def _walks(kinds: np.ndarray, rows: np.ndarray) -> _Walks:
    walked = np.flatnonzero(kinds >= _AVERAGE)
    block = rows[walked]
    nonzero = np.flatnonzero(block != 0)  # flat: numpy's 2-D nonzero is many times slower
    return _Walks(walked, nonzero, block.ravel()[nonzero])


def _cost(kinds: np.ndarray, walks: _Walks) -> int:
    """What unfiltering these rows costs before any walk goes past their nonzero bytes."""
    rows, events = walks.rows.size, walks.nonzero.size
    return _ROW_COST * int(np.count_nonzero(kinds >= _UP)) + _WALKED_ROW_COST * rows + _EVENT_COST * events


def _unfilter_in_pillow(kinds: np.ndarray, rows: np.ndarray) -> bool:
    """Unfilter the rows (contiguous, one byte per pixel) in place with Pillow's PNG
    decoder, handed them as a zlib stream of stored (uncompressed) blocks: it only copies
    those before its C unfiltering, where its own inflate is most of its time. It writes
    into ``rows`` through an image mapped onto them: reading an image of Pillow's own
    back out (``np.asarray``, by way of ``tobytes``) took half as long again as the
    unfiltering. False when Pillow's decoder reports an error (a filter type that does
    not exist; ``rows`` is then part done), so that Pillow reading the file gives its
    own error."""
    raw = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    raw[:, 0], raw[:, 1:] = kinds, rows
    raw = raw.data.cast("B")
    blocks = [b"\x78\x01"]  # zlib header: deflate, 32 KiB window, no preset dictionary
    for start in range(0, len(raw), 65535):
        block = raw[start : start + 65535]
        blocks += [struct.pack("<BHH", start + 65535 >= len(raw), len(block), 0xFFFF ^ len(block)), block]
    blocks.append(struct.pack(">I", _zlib.adler32(raw)))
    height, width = rows.shape
    # "L" for palette images too: the same bytes, without the palette a "P" image gets
    image = Image.frombuffer("L", (width, height), rows, "raw", "L", 0, 1)
    decoder = Image._getdecoder("L", "zip", "L")  # PngImagePlugin's decoder, for rawmode L
    try:
        decoder.setimage(image.im, (0, 0, width, height))
        done = decoder.decode(b"".join(blocks))
    finally:
        decoder.cleanup()
    return done == (-1, 0)


def _unfilter(kinds: np.ndarray, rows: np.ndarray, budget: int, walks: _Walks) -> int:
    """Undo the PNG row filters (types 0 to 4) in place, one byte per pixel, until the
    walks take more events than ``budget`` pays for; returns how many rows from the top
    are done: all of them, or fewer when a walk ran out of budget (the Sub rows below
    those are done too).

    All arithmetic is uint8 and wraps, as PNG's does. None rows are their filtered bytes
    and Sub rows need nothing from the row above, so all Sub rows are done at once. The
    rest go top to bottom: an Up row is the row above plus its own bytes, and Paeth and
    Average rows, whose pixels depend on their left neighbour in a way no running sum
    gives, are walked from one event to the next (see ``_walk_paeth``): at least one event per
    nonzero filtered byte, few in a mask, which ``decode`` has already charged. ``walks``
    are those rows and bytes, as ``_walks`` finds them before anything is unfiltered.
    """
    height, width = rows.shape
    if walks.rows.size:
        bounds = np.searchsorted(walks.nonzero, np.arange(walks.rows.size + 1) * width).tolist()
        spans = zip(bounds[:-1], bounds[1:])  # each walked row's nonzero bytes, top to bottom
        columns, values = (walks.nonzero % width).tolist(), walks.values.tolist()
        pixels = rows.data.cast("B")  # the same memory, row slices written from bytes
    sub = np.flatnonzero(kinds == _SUB)
    if sub.size:
        sums = rows[sub]
        _running_sums(sums)
        rows[sub] = sums
    starts = (np.flatnonzero(kinds[1:] != kinds[:-1]) + 1).tolist()
    for start, end, kind in zip([0, *starts], [*starts, height], kinds[[0, *starts]].tolist()):
        if kind == _UP:
            above = rows[start - 1] if start else np.zeros(width, np.uint8)
            for row in rows[start:end]:
                row += above
                above = row
        elif kind >= _AVERAGE:
            above = pixels[(start - 1) * width : start * width] if start else bytes(width)
            walk = _walk_average if kind == _AVERAGE else _walk_paeth
            for index in range(start, end):
                first, last = next(spans)
                above, events = walk(above, columns[first:last], values[first:last])
                budget -= _EVENT_COST * (events - (last - first))
                if budget < 0:
                    return index
                pixels[index * width : (index + 1) * width] = above
    return height


def _budget(height: int, width: int) -> int:
    """What Pillow's decoding of an image of that size costs, less the fixed part of ours."""
    return height * width * 2 // 3 - _FIXED_COST


def _running_sums(block: np.ndarray) -> None:
    """Running sums along the rows of a 2-D uint8 block, in place, wrapping.

    Summed as uint32 (whose sums wrap to the same bytes) and cast back on assignment:
    numpy's accumulate runs about twice as fast in uint32 as in uint8, or as log2(width)
    overlapping whole-block additions. Only the columns from the first to the last
    nonzero byte of any row are summed (a mask's objects span part of the width): left
    of them every sum is 0, right of them each row's sum stays what it is at the last
    of them.
    """
    columns = np.flatnonzero(block.max(axis=0))
    if not columns.size:
        return
    first, end = int(columns[0]), int(columns[-1]) + 1
    block[:, first:end] = np.add.accumulate(block[:, first:end], axis=1, dtype=np.uint32)
    block[:, end:] = block[:, end - 1 : end]


def _walk_paeth(above: bytes | bytearray, columns: list[int], values: list[int]) -> tuple[bytearray, int]:
    """The pixels of one Paeth row from the row ``above`` and the row's nonzero filtered
    bytes (``values`` at ``columns``); and the number of events taken.

    With a the pixel to the left, b above and c above left: where a == c Paeth predicts b,
    so a zero filtered byte copies the row above, up to the next nonzero one whatever the
    row above does; where a != c and the row above does not change (b == c) it predicts
    a, so the row holds a up to the next change of the row above. So pixels are computed
    one by one only at the nonzero filtered bytes and at the changes that end a hold; the
    row starts as a copy of ``above`` and held stretches are filled with their value.
    Bit-exact with the definition: the formula at every event (where a == c it gives b),
    and at every other pixel a predictor that gives exactly the copied or held value.
    """
    width = len(above)
    row = bytearray(above)  # copied stretches are left as they are
    steps = 0
    a = c = 0  # the pixel left of column i, and the one above that (0 left of the row)
    i = k = 0
    while True:
        n = columns[k] if k < len(columns) else width  # next nonzero filtered byte
        if a == c:  # copying up to it
            if n >= width:
                return row, steps
            j, b = n, above[n]
            a = (values[k] + b) & 255
            k += 1
        else:  # holding a, up to the next change of the row above (c is above[i - 1])
            j = min(n, _SAME_AS[c](above, i).end())
            row[i:j] = _BYTE[a] * (j - i)
            if j >= width:
                return row, steps
            b, c = above[j], above[j - 1]  # j > 0: a hold starts after an event
            f = 0
            if n == j:
                f = values[k]
                k += 1
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            a = (f + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        row[j] = a
        steps += 1
        c = b
        i = j + 1


def _walk_average(above: bytes | bytearray, columns: list[int], values: list[int]) -> tuple[bytearray, int]:
    """``_walk_paeth`` for an Average row, which predicts (a + b) // 2.

    Between changes of the row above (b == c) that copies where a == b and holds where
    a == b - 1; any other a converges to one of those within eight pixels, one event each.
    """
    width = len(above)
    row = bytearray(above)
    steps = 0
    a = c = 0
    i = k = 0
    while True:
        n = columns[k] if k < len(columns) else width
        copying = a == c
        if copying:
            j = min(n, _next_change(above, i))
        elif a + 1 == c:  # holding a
            j = min(n, _next_change(above, i))
            row[i:j] = _BYTE[a] * (j - i)
        else:  # converging
            j = i
        if j >= width:
            return row, steps
        b, c = above[j], above[j - 1] if j else 0
        if copying:
            a = c
        f = 0
        if n == j:
            f = values[k]
            k += 1
        a = (f + ((a + b) >> 1)) & 255
        row[j] = a
        steps += 1
        c = b
        i = j + 1


def _next_change(row: bytes, i: int) -> int:
    """The first column j >= i where the row's value differs from the one left of it
    (0 left of the row), or the row's length."""
    return _SAME_AS[row[i - 1] if i else 0](row, i).end()


# _SAME_AS[v](row, i) matches the run of bytes equal to v from column i (a C loop;
# bytes.lstrip tests each byte against a set, several times slower); _BYTE[v] is the byte
_SAME_AS = [re.compile(re.escape(bytes((v,))) + b"*").match for v in range(256)]
_BYTE = [bytes((v,)) for v in range(256)]
