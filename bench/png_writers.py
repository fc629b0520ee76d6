"""PNG files of 8-bit single-channel images written as the common writers write them.

The benchmarks and tests use these to feed ``vosbench.png`` every filter type: PNG's five
row filters (specification, section 9) computed from the raw pixels, each row with a
chosen type or with the per-row choice libpng makes when OpenCV writes a greyscale
image (``cv2.imwrite``: the filter with the least sum of bytes read as signed, ties to
the first; zlib level 1 with run-length matching), and Pillow's own writer (palette
images unfiltered, greyscale ones with its own per-row choice).

    python bench/png_writers.py OUT_FOLDER   # one mask written by every writer, to look at
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

NONE, SUB, UP, AVERAGE, PAETH = range(5)
GREY, PALETTE = 0, 3
SIGNATURE = b"\x89PNG\r\n\x1a\n"

# name -> filter type of every row; "adaptive" chooses per row as libpng does
FILTERS = {"none": NONE, "sub": SUB, "up": UP, "average": AVERAGE, "paeth": PAETH}
WRITERS = [*FILTERS, "adaptive", "opencv", "pillow", "pillow-grey"]


def predictions(pixels: np.ndarray) -> np.ndarray:
    """What each filter type predicts for every pixel, int64 [5, H, W] (0 outside the image)."""
    raw = pixels.astype(np.int64)
    height, width = raw.shape
    above = np.vstack([np.zeros((1, width), np.int64), raw[:-1]])
    left = np.hstack([np.zeros((height, 1), np.int64), raw[:, :-1]])
    above_left = np.hstack([np.zeros((height, 1), np.int64), above[:, :-1]])
    estimate = left + above - above_left
    pa, pb, pc = abs(estimate - left), abs(estimate - above), abs(estimate - above_left)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, above, above_left))
    return np.stack([0 * raw, left, above, (left + above) // 2, paeth])


def adaptive_filters(pixels: np.ndarray) -> list[int]:
    """libpng's choice for each row: the least sum of the filtered bytes read as signed."""
    residuals = (pixels.astype(np.int64) - predictions(pixels)) % 256
    cost = np.minimum(residuals, 256 - residuals).sum(axis=2)  # [5, H]
    return cost.argmin(axis=0).tolist()  # argmin takes the first of equals, as libpng


def filtered_rows(pixels: np.ndarray, filters: list[int]) -> bytes:
    """Each row filtered with its filter type, the type's byte first: the inflated IDAT data."""
    residuals = ((pixels.astype(np.int64) - predictions(pixels)) % 256).astype(np.uint8)
    return b"".join(bytes([kind]) + residuals[kind, row].tobytes() for row, kind in enumerate(filters))


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bytes(pixels: np.ndarray, filters: list[int], colour: int = PALETTE, stream: bytes | None = None,
              before: list[tuple[bytes, bytes]] = (), after: list[tuple[bytes, bytes]] = (), depth: int = 8,
              interlace: int = 0, idat_parts: int = 1) -> bytes:
    """A PNG file of ``pixels`` with those row filters (or of the given zlib ``stream``).

    A palette image gets a 256-entry greyscale-ramp PLTE unless ``before`` has one.
    """
    height, width = pixels.shape
    if stream is None:
        stream = zlib.compress(filtered_rows(pixels, filters))
    if colour == PALETTE and not any(kind == b"PLTE" for kind, _ in before):
        before = [(b"PLTE", bytes(np.repeat(np.arange(256, dtype=np.uint8), 3))), *before]
    cuts = np.linspace(0, len(stream), idat_parts + 1).astype(int)
    return (
        SIGNATURE
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace))
        + b"".join(chunk(kind, body) for kind, body in before)
        + b"".join(chunk(b"IDAT", stream[a:b]) for a, b in zip(cuts, cuts[1:]))
        + b"".join(chunk(kind, body) for kind, body in after)
        + chunk(b"IEND", b"")
    )


def write(pixels: np.ndarray, writer: str) -> bytes:
    """``pixels`` (uint8 [H, W]) as the PNG file ``writer`` (one of WRITERS) makes."""
    height = pixels.shape[0]
    if writer in FILTERS:
        return png_bytes(pixels, [FILTERS[writer]] * height)
    if writer == "adaptive":
        return png_bytes(pixels, adaptive_filters(pixels))
    if writer == "opencv":  # greyscale, libpng's adaptive filters, zlib level 1 with Z_RLE
        packer = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
        data = filtered_rows(pixels, adaptive_filters(pixels))
        return png_bytes(pixels, [], colour=GREY, stream=packer.compress(data) + packer.flush())
    if writer in ("pillow", "pillow-grey"):  # palette rows unfiltered (as write_mask); grey adaptive
        image = Image.fromarray(pixels, mode="P" if writer == "pillow" else "L")
        if writer == "pillow":
            image.putpalette(bytes(np.repeat(np.arange(256, dtype=np.uint8), 3)))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    raise ValueError(f"unknown writer {writer!r}; one of {', '.join(WRITERS)}")


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[:480, :854]
    mask = (((y - 240) / 150) ** 2 + ((x - 400) / 250) ** 2 <= 1).astype(np.uint8)
    mask[(x - 600) ** 2 + (y - 150) ** 2 < 60**2] = 2
    for writer in WRITERS:
        (out / f"{writer}.png").write_bytes(write(mask, writer))
    print(f"{len(WRITERS)} files in {out}")


if __name__ == "__main__":
    main()
