"""vosbench.png: bit-exact with Pillow on every PNG it decodes, and Pillow's result or
error for everything it declines.

The PNGs with chosen filters are written by a small encoder here (PNG specification,
section 9: every filter type computed from the raw pixels, which needs no running sums),
so each branch of the decoder is covered, including Paeth over random data and Average,
which Pillow's encoder never picks for masks.
"""

from __future__ import annotations

import io
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import shared_path
from vosbench import masks, png
from vosbench.errors import VosbenchError
from vosbench.masks import read_mask, write_mask

NONE, SUB, UP, AVERAGE, PAETH = range(5)
GREY, PALETTE = 0, 3


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def filtered_rows(pixels: np.ndarray, filters: list[int]) -> bytes:
    """Each row of an 8-bit single-channel image filtered with its filter type, type byte first."""
    raw = pixels.astype(np.int64)
    height, width = raw.shape
    above = np.vstack([np.zeros((1, width), np.int64), raw[:-1]])
    left = np.hstack([np.zeros((height, 1), np.int64), raw[:, :-1]])
    above_left = np.hstack([np.zeros((height, 1), np.int64), above[:, :-1]])
    estimate = left + above - above_left
    pa, pb, pc = abs(estimate - left), abs(estimate - above), abs(estimate - above_left)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, above, above_left))
    predictions = {NONE: 0 * raw, SUB: left, UP: above, AVERAGE: (left + above) // 2, PAETH: paeth}
    return b"".join(
        bytes([kind]) + ((raw[r] - predictions[kind][r]) % 256).astype(np.uint8).tobytes()
        for r, kind in enumerate(filters)
    )


def make_png(
    pixels: np.ndarray,
    filters: list[int] | None = None,
    *,
    colour: int = PALETTE,
    depth: int = 8,
    interlace: int = 0,
    before: list[tuple[bytes, bytes]] = (),
    after: list[tuple[bytes, bytes]] = (),
    idat_parts: int = 1,
    stream: bytes | None = None,
) -> bytes:
    """A PNG file of ``pixels`` (or of the given zlib ``stream``) with the chunks asked for."""
    height, width = pixels.shape
    if stream is None:
        stream = zlib.compress(filtered_rows(pixels, filters or [NONE] * height))
    cuts = np.linspace(0, len(stream), idat_parts + 1).astype(int)
    if colour == PALETTE and not any(kind == b"PLTE" for kind, _ in before):
        before = [(b"PLTE", masks.DAVIS_PALETTE.tobytes()), *before]
    return (
        png.SIGNATURE
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace))
        + b"".join(chunk(kind, body) for kind, body in before)
        + b"".join(chunk(b"IDAT", stream[a:b]) for a, b in zip(cuts, cuts[1:]))
        + b"".join(chunk(kind, body) for kind, body in after)
        + chunk(b"IEND", b"")
    )


def pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode in ("P", "L")
        return np.asarray(image)


def assert_decodes(data: bytes, expected: np.ndarray | None = None) -> None:
    """Decoded on the fast path, as Pillow decodes it (and as ``expected``, when given)."""
    ours = png.decode(data)
    assert ours is not None, "declined a file it should decode"
    reference = pillow(data)
    assert ours.dtype == np.uint8 and ours.shape == reference.shape and ours.flags.c_contiguous
    np.testing.assert_array_equal(ours, reference)
    if expected is not None:
        np.testing.assert_array_equal(ours, expected)


def blobs(rng: np.random.Generator, height: int, width: int, objects: int = 3) -> np.ndarray:
    """A mask-like image: a few ellipses of object ids on background."""
    y, x = np.mgrid[:height, :width]
    mask = np.zeros((height, width), np.uint8)
    for k in range(objects):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(2, height / 2 + 2), rng.uniform(2, width / 2 + 2)
        mask[((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1] = rng.choice([k + 1, 255])
    return mask


# ---------------------------------------------------------------- the shared data


@pytest.mark.parametrize(("folder", "every"), [(("davis2016-val", "Annotations", "480p"), 1),
                                               (("predictions", "osvos-union"), 2), (("predictions", "gt-shift"), 2)],
                         ids=["ground truth", "osvos-union", "gt-shift"])
def test_shared_pngs_match_pillow(folder, every):
    """Every ground-truth PNG, and every other file of the prediction sets (time)."""
    files = sorted(shared_path("data", *folder).rglob("*.png"))
    assert len(files) > 1000
    for path in files[::every]:
        ours = png.decode(path.read_bytes())
        assert ours is not None, path
        with Image.open(path) as image:
            np.testing.assert_array_equal(ours, np.asarray(image), err_msg=str(path))


def test_read_mask_takes_the_fast_path_for_annotations(davis2016, monkeypatch):
    path = davis2016 / "Annotations" / "480p" / "blackswan" / "00000.png"
    expected = masks._read_with_pillow(path)
    monkeypatch.setattr(masks, "_read_with_pillow", lambda p: pytest.fail(f"{p} went to Pillow"))
    np.testing.assert_array_equal(read_mask(path), expected)


# ---------------------------------------------------------------- every filter branch


@pytest.mark.parametrize("colour", [GREY, PALETTE])
@pytest.mark.parametrize("kind", [NONE, SUB, UP, AVERAGE, PAETH])
@pytest.mark.parametrize("shape", [(1, 1), (1, 29), (31, 1), (2, 2), (9, 13), (40, 37)])
def test_each_filter_type_on_random_pixels(kind, colour, shape):
    pixels = np.random.default_rng(sum(shape) * 10 + kind).integers(0, 256, shape, dtype=np.uint8)
    assert_decodes(make_png(pixels, [kind] * shape[0], colour=colour), pixels)


@pytest.mark.parametrize("seed", range(12))
def test_filters_mixed_row_by_row(seed):
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(1, 60)), int(rng.integers(1, 70))
    pixels = blobs(rng, height, width) if seed % 2 else rng.integers(0, 256, (height, width), dtype=np.uint8)
    filters = rng.integers(0, 5, height).tolist()
    assert_decodes(make_png(pixels, filters, colour=[GREY, PALETTE][seed % 3 == 0]), pixels)


@pytest.mark.parametrize("seed", range(6))
def test_paeth_on_masks_with_edges(seed):
    # Few edge columns per row, the case the scalar loop is built for; values near 0 and
    # 255 make the predictor pick a, b and c and the sums wrap.
    rng = np.random.default_rng(seed)
    pixels = blobs(rng, 120, 160, objects=6)
    pixels[rng.random(pixels.shape) < 0.01] = rng.choice([0, 1, 254, 255])
    filters = rng.choice([PAETH, PAETH, UP, SUB, NONE], 120).tolist()
    assert_decodes(make_png(pixels, filters), pixels)
    assert_decodes(make_png(pixels, [PAETH] * 120), pixels)


def test_long_runs_of_up_rows_wrap():
    rng = np.random.default_rng(1)
    pixels = np.cumsum(rng.integers(0, 256, (300, 20)), axis=0).astype(np.uint8)
    assert_decodes(make_png(pixels, [NONE] + [UP] * 299, colour=GREY), pixels)


@pytest.mark.parametrize("mode", ["P", "L"])
@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_pngs_written_by_pillow(mode, level):
    rng = np.random.default_rng(level)
    for pixels in (blobs(rng, 97, 131), rng.integers(0, 256, (33, 45), dtype=np.uint8)):
        image = Image.fromarray(pixels, mode=mode)
        if mode == "P":  # with its default palette Pillow writes a 1-bit PNG (declined, below)
            image.putpalette(masks.DAVIS_PALETTE.tobytes())
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=level)
        assert_decodes(buffer.getvalue(), pixels)


def test_write_mask_round_trips(tmp_path):
    mask = blobs(np.random.default_rng(3), 480, 854, objects=5)
    write_mask(tmp_path / "m.png", mask)
    assert png.decode((tmp_path / "m.png").read_bytes()) is not None
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), mask)


def test_stream_split_over_idat_chunks_and_harmless_chunks():
    pixels = blobs(np.random.default_rng(5), 50, 70)
    harmless = [(b"tRNS", b"\x00"), (b"gAMA", bytes(4)), (b"pHYs", bytes(9)), (b"tIME", bytes(7)),
                (b"sRGB", b"\x00"), (b"bKGD", b"\x00"), (b"sBIT", bytes(3)), (b"cHRM", bytes(32))]
    assert_decodes(make_png(pixels, [PAETH] * 50, before=harmless, idat_parts=7), pixels)
    for palette, alpha in ((bytes(3), b""), (bytes(768), bytes(range(256)))):  # the lengths allowed
        assert_decodes(make_png(pixels, before=[(b"PLTE", palette), (b"tRNS", alpha)]), pixels)
    assert_decodes(make_png(pixels, colour=GREY, before=[(b"tRNS", b"\x00\x01"), (b"tIME", bytes(7))]), pixels)
    with_empty_idat = make_png(pixels, stream=b"").replace(chunk(b"IEND", b""), b"")
    with_empty_idat += chunk(b"IDAT", zlib.compress(filtered_rows(pixels, [SUB] * 50))) + chunk(b"IEND", b"")
    assert_decodes(with_empty_idat, pixels)
    assert_decodes(make_png(pixels) + b"anything after IEND", pixels)


def test_wide_rows_inflate_one_at_a_time():
    pixels = np.random.default_rng(0).integers(0, 256, (3, 70_000), dtype=np.uint8)
    assert_decodes(make_png(pixels, [SUB, UP, NONE], colour=GREY), pixels)


def test_standard_library_zlib_gives_the_same(monkeypatch):
    pixels = blobs(np.random.default_rng(2), 64, 64)
    data = make_png(pixels, np.random.default_rng(2).integers(0, 5, 64).tolist())
    monkeypatch.setattr(png, "_zlib", zlib)
    assert_decodes(data, pixels)


# ---------------------------------------------------------------- declined: Pillow decides


def _declined_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    pixels = blobs(rng, 20, 30)
    good = make_png(pixels, [PAETH] * 20)
    stream = zlib.compress(filtered_rows(pixels, [NONE] * 20))
    ihdr_crc = len(png.SIGNATURE) + 8 + 13
    two_parts = make_png(pixels, idat_parts=2)
    second_idat = two_parts.index(b"IDAT", two_parts.index(b"IDAT") + 4) - 4
    rgb = io.BytesIO()
    Image.fromarray(masks.DAVIS_PALETTE[pixels]).save(rgb, format="PNG")
    grey16 = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint16) * 3).save(grey16, format="PNG")
    one_bit = io.BytesIO()
    Image.fromarray(pixels > 0).save(one_bit, format="PNG")
    return {
        "rgb": rgb.getvalue(),
        "grey 16-bit": grey16.getvalue(),
        "1-bit": one_bit.getvalue(),
        "grey with alpha": make_png(np.zeros((20, 30), np.uint8), colour=4, stream=zlib.compress(bytes(20 * 61))),
        "palette 4-bit": make_png(np.zeros((20, 15), np.uint8), depth=4, stream=zlib.compress(bytes(20 * 9))),
        "interlaced": make_png(pixels, interlace=1),
        "bad IHDR crc": good[:ihdr_crc] + bytes([good[ihdr_crc] ^ 1]) + good[ihdr_crc + 1 :],
        "bad IDAT crc": good[:-13] + bytes([good[-13] ^ 1]) + good[-12:],
        "truncated": good[: len(good) // 2],
        "no IEND": good[:-12],
        "bad zlib stream": make_png(pixels, stream=stream[:2] + bytes([stream[2] ^ 0xFF]) + stream[3:]),
        "stream cut short": make_png(pixels, stream=zlib.compress(filtered_rows(pixels, [NONE] * 20))[:-6]),
        "rows short": make_png(pixels, stream=zlib.compress(filtered_rows(pixels, [NONE] * 20)[:-1])),
        "rows too long": make_png(pixels, stream=zlib.compress(filtered_rows(pixels, [NONE] * 20) + b"\0")),
        "bytes after the stream": make_png(pixels, stream=stream + b"\0\0"),
        "filter type 5": make_png(pixels, stream=zlib.compress(b"\x05" + filtered_rows(pixels, [NONE] * 20)[1:])),
        "palette too long": make_png(pixels, before=[(b"PLTE", bytes(800))]),
        "grey tRNS too short": make_png(pixels, colour=GREY, before=[(b"tRNS", b"\x01")]),
        "unknown chunk": make_png(pixels, before=[(b"abCD", b"x")]),
        "text after the pixels": make_png(pixels, after=[(b"tEXt", b"k\0v")]),
        "IDAT not consecutive": two_parts[:second_idat] + chunk(b"tEXt", b"k\0v") + two_parts[second_idat:],
        "zero width": make_png(np.zeros((3, 0), np.uint8), stream=zlib.compress(b"\0\0\0")),
        "jpeg named png": _jpeg(pixels),
        "empty file": b"",
    }


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


DECLINED = _declined_files()


@pytest.mark.parametrize("name", DECLINED)
def test_declined_files_keep_pillows_result_or_error(name, tmp_path):
    data = DECLINED[name]
    assert png.decode(data) is None
    path = tmp_path / "mask.png"
    path.write_bytes(data)
    assert _outcome(read_mask, path) == _outcome(masks._read_with_pillow, path)


def test_busy_paeth_images_go_to_pillow(tmp_path):
    # random pixels make every column an edge: past the budget, Pillow's C loop is faster
    pixels = np.random.default_rng(0).integers(0, 256, (300, 300), dtype=np.uint8)
    data = make_png(pixels, [PAETH] * 300, colour=GREY)
    assert png.decode(data) is None
    (tmp_path / "busy.png").write_bytes(data)
    np.testing.assert_array_equal(read_mask(tmp_path / "busy.png"), pixels)


def test_images_over_pillows_pixel_limit_go_to_pillow(tmp_path, monkeypatch):
    # Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that
    path = tmp_path / "big.png"
    path.write_bytes(make_png(np.zeros((20, 30), np.uint8)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 250)
    assert png.decode(path.read_bytes()) is None
    assert _outcome(read_mask, path) == _outcome(masks._read_with_pillow, path)
    assert _outcome(read_mask, path)[0] == "DecompressionBombError"


def test_missing_file_and_folder_errors_unchanged(tmp_path):
    for path in (tmp_path / "absent.png", tmp_path):
        assert _outcome(read_mask, path) == _outcome(masks._read_with_pillow, path)
        with pytest.raises(VosbenchError, match=re.escape(str(path))):
            read_mask(path)


def test_corrupted_files_read_as_pillow_reads_them(tmp_path):
    """Random damage to a mask PNG: the same array or the same one-line error as Pillow's path."""
    rng = np.random.default_rng(7)
    pixels = blobs(rng, 24, 40)
    original = make_png(pixels, rng.choice([NONE, SUB, UP, PAETH], 24).tolist(), before=[(b"tRNS", b"\x00")])
    path = tmp_path / "mask.png"
    fast = 0
    for trial in range(300):
        data = bytearray(original)
        if trial % 3 == 0:
            data = data[: int(rng.integers(0, len(data)))]
        else:
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(8, len(data)))] = int(rng.integers(0, 256))
        if trial % 5 == 0:  # a damaged chunk with its CRC made right again reaches the inflater
            data = _fix_crcs(bytes(data))
        path.write_bytes(bytes(data))
        fast += png.decode(bytes(data)) is not None
        assert _outcome(read_mask, path) == _outcome(masks._read_with_pillow, path), trial
    assert fast > 0


def _fix_crcs(data: bytes) -> bytes:
    out, pos = bytearray(data[:8]), 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        if pos + 12 + length > len(data):
            break
        body = data[pos + 4 : pos + 8 + length]
        out += data[pos : pos + 8 + length] + struct.pack(">I", zlib.crc32(body))
        pos += 12 + length
    return bytes(out + data[pos:])


def _outcome(reader, path):
    """("ok", dtype, pixels) or (error type, message): what a reader makes of the file."""
    try:
        result = reader(path)
    except Exception as error:  # noqa: BLE001 - any error must be the same one
        return (type(error).__name__, str(error))
    return ("ok", result.dtype, result.tolist())
