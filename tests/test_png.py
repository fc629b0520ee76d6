"""vosbench.png: bit-exact with Pillow on every PNG it decodes, and Pillow's result or
error for everything it declines.

The PNGs with chosen filters are written by bench/png_writers.py (PNG specification,
section 9: every filter type computed from the raw pixels, which needs no running sums),
so each branch of the decoder is covered, including Paeth over random data and Average,
which Pillow's encoder never picks for masks. The decoder unfilters in numpy where that
is cheaper than Pillow and hands the inflated rows to Pillow's C unfiltering elsewhere;
exactness is tested on both ways for every file (``assert_decodes``) with the choice
lifted (``unbudgeted``, on for every test here), and the choice itself by the tests
that put it back (``budgeted``).
"""

from __future__ import annotations

import importlib.util
import io
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import shared_path
from vosbench import masks, png
from vosbench.errors import VosbenchError
from vosbench.masks import read_mask, write_mask

_spec = importlib.util.spec_from_file_location("png_writers", Path(__file__).parents[1] / "bench" / "png_writers.py")
writers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(writers)
NONE, SUB, UP, AVERAGE, PAETH = range(5)
GREY, PALETTE = writers.GREY, writers.PALETTE
chunk, filtered_rows = writers.chunk, writers.filtered_rows
BUDGET = png._FIXED_COST


@pytest.fixture(autouse=True)
def unbudgeted(monkeypatch):
    """Every file the decoder can vouch for is decoded here, however long it takes."""
    monkeypatch.setattr(png, "_FIXED_COST", -(2**62))


@pytest.fixture
def budgeted(monkeypatch):
    monkeypatch.setattr(png, "_FIXED_COST", BUDGET)


def make_png(pixels: np.ndarray, filters: list[int] | None = None, *, colour: int = PALETTE,
             before: list[tuple[bytes, bytes]] = (), **options) -> bytes:
    """A PNG file of ``pixels`` (DAVIS palette unless ``before`` has a PLTE), None filters by default."""
    if colour == PALETTE and not any(kind == b"PLTE" for kind, _ in before):
        before = [(b"PLTE", masks.DAVIS_PALETTE.tobytes()), *before]
    return writers.png_bytes(pixels, filters or [NONE] * pixels.shape[0], colour=colour, before=before, **options)


def pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode in ("P", "L")
        return np.asarray(image)


def assert_decodes(data: bytes, expected: np.ndarray | None = None) -> None:
    """Decoded on the fast path, as Pillow decodes it (and as ``expected``, when given)."""
    ours = png.decode(data)
    assert ours is not None, "declined a file it should decode"
    height, width, _, stream = png._parse(data)
    kinds, in_pillow = png._inflate(stream, height, width)
    assert png._unfilter_in_pillow(kinds, in_pillow)
    reference = pillow(data)
    for decoded in (ours, in_pillow):
        assert decoded.dtype == np.uint8 and decoded.shape == reference.shape and decoded.flags.c_contiguous
        np.testing.assert_array_equal(decoded, reference)
        if expected is not None:
            np.testing.assert_array_equal(decoded, expected)


@pytest.fixture
def ways(monkeypatch) -> list[str]:
    """Which unfiltering each ``png.decode`` call took: "numpy" or "pillow" (neither when no row is filtered)."""
    taken: list[str] = []
    numpy_way, pillow_way = png._unfilter, png._unfilter_in_pillow
    monkeypatch.setattr(png, "_unfilter", lambda *args: taken.append("numpy") or numpy_way(*args))
    monkeypatch.setattr(png, "_unfilter_in_pillow", lambda *args: taken.append("pillow") or pillow_way(*args))
    return taken


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


def test_read_mask_takes_the_fast_path_for_annotations(davis2016, monkeypatch, budgeted):
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
def test_paeth_and_average_on_masks_with_edges(seed):
    # Few edges and nonzero filtered bytes per row, what the walk is built for; values
    # near 0 and 255 make the Paeth predictor pick a, b and c, Average rows converge up
    # and down, and the sums wrap; six objects make edges between three values.
    rng = np.random.default_rng(seed)
    pixels = blobs(rng, 120, 160, objects=6)
    pixels[rng.random(pixels.shape) < 0.01] = rng.choice([0, 1, 254, 255])
    filters = rng.choice([PAETH, PAETH, AVERAGE, UP, SUB, NONE], 120).tolist()
    assert_decodes(make_png(pixels, filters), pixels)
    assert_decodes(make_png(pixels, [PAETH] * 120), pixels)
    assert_decodes(make_png(pixels, [AVERAGE] * 120), pixels)


@pytest.mark.parametrize("writer", writers.WRITERS)
def test_every_writer(writer):
    """Each filter type on every row, libpng's and OpenCV's per-row choice, Pillow's."""
    rng = np.random.default_rng(len(writer))
    mask = blobs(rng, 96, 128, objects=5)
    mask[rng.random(mask.shape) < 0.005] = 255
    for pixels in (mask, rng.integers(0, 256, (24, 40), dtype=np.uint8)):
        assert_decodes(writers.write(pixels, writer), pixels)


def test_average_rows_converge_to_the_row_above():
    # a jump to 255 under 0s (and back) takes eight Average steps to settle, wrapping
    pixels = np.zeros((4, 40), np.uint8)
    pixels[1:, 5:9] = 255
    pixels[2, 20:] = 7
    pixels[3, 30:] = 0
    assert_decodes(make_png(pixels, [NONE, AVERAGE, AVERAGE, AVERAGE], colour=GREY), pixels)


def test_long_runs_of_up_rows_wrap():
    rng = np.random.default_rng(1)
    pixels = np.cumsum(rng.integers(0, 256, (300, 20)), axis=0).astype(np.uint8)
    assert_decodes(make_png(pixels, [NONE] + [UP] * 299, colour=GREY), pixels)


def test_sub_rows_hold_their_sum_right_of_the_last_change():
    # Sub rows are summed only from the first to the last nonzero filtered byte of any
    # of them: what lies right of that repeats each row's last sum (0, or an object
    # running to the right edge), and what lies left of it is 0
    pixels = np.zeros((5, 50), np.uint8)
    pixels[0, 30:] = 5  # to the right edge: the last change of all rows
    pixels[1, 10:20] = 255
    pixels[3, 12:14], pixels[3, 14:] = 9, 200
    assert_decodes(make_png(pixels, [SUB] * 5, colour=GREY), pixels)
    assert_decodes(make_png(np.zeros((3, 7), np.uint8), [SUB] * 3, colour=GREY), np.zeros((3, 7), np.uint8))


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


def test_busy_paeth_images_are_unfiltered_by_pillow(ways, budgeted):
    # random pixels make every byte nonzero: counted before walking, Pillow's C loop is faster
    pixels = np.random.default_rng(0).integers(0, 256, (300, 300), dtype=np.uint8)
    np.testing.assert_array_equal(png.decode(make_png(pixels, [PAETH] * 300, colour=GREY)), pixels)
    assert ways == ["pillow"]


def test_small_images_are_unfiltered_by_pillow(ways, budgeted):
    # Pillow's per-file overhead is less than ours
    pixels = blobs(np.random.default_rng(0), 20, 30)
    np.testing.assert_array_equal(png.decode(make_png(pixels, [UP] * 20)), pixels)
    assert ways == ["pillow"]


@pytest.mark.parametrize("first", [0, 3])
def test_walks_that_outrun_the_budget_are_finished_by_pillow(monkeypatch, ways, first):
    # a row of 0s under one of 100 and 101 by turns: Paeth predicts the 0 on the left at
    # every column, the one nonzero filtered byte is the first, and the walk takes a step
    # a column, which only the running count of its steps sees; Pillow then takes the
    # rows from the one above it on (a Paeth row, done), the Sub rows among them already summed
    width = 4000
    pixels = blobs(np.random.default_rng(first), first + 6, width, objects=4)
    pixels[first] = 100 + np.arange(width) % 2
    pixels[first + 1] = 0
    filters = [SUB, UP, PAETH][:first] + [PAETH, PAETH, SUB, UP, PAETH, SUB]
    assert np.count_nonzero(np.frombuffer(filtered_rows(pixels[first:first + 2], [NONE, PAETH]), np.uint8)[width + 2 :]) == 1
    data = make_png(pixels, filters, colour=GREY)
    height, _, _, stream = png._parse(data)
    kinds, rows = png._inflate(stream, height, width)
    counted = png._cost(kinds, png._walks(kinds, rows))  # before walking
    pillow_cost = png._budget(height, width) + png._FIXED_COST
    monkeypatch.setattr(png, "_FIXED_COST", pillow_cost - counted - 100 * png._EVENT_COST)  # 100 steps' worth
    np.testing.assert_array_equal(png.decode(data), pixels)
    assert ways == ["numpy", "pillow"]
    monkeypatch.setattr(png, "_FIXED_COST", -(2**62))
    assert_decodes(data, pixels)


@pytest.mark.parametrize("writer", writers.WRITERS)
def test_masks_at_davis_size_are_unfiltered_in_numpy_unless_pillow_is_faster(writer, ways, budgeted):
    # every row Paeth or Average: Pillow's C loop is faster than a walk a row
    mask = blobs(np.random.default_rng(4), 480, 854, objects=3)
    np.testing.assert_array_equal(png.decode(writers.write(mask, writer)), mask)
    # rows none of them filtered (the "none" writer, Pillow's for palette images) take neither
    assert ways == {"paeth": ["pillow"], "average": ["pillow"], "none": [], "pillow": []}.get(writer, ["numpy"])


@pytest.mark.parametrize("folder", [("davis2016-val", "Annotations", "480p"), ("predictions", "osvos-union")],
                         ids=["ground truth", "osvos-union"])
def test_shared_masks_are_unfiltered_in_numpy(folder, ways, budgeted):
    """The DAVIS annotations (adaptive filters, Paeth rows) mostly, the predictions (no filter) all."""
    files = sorted(shared_path("data", *folder).rglob("*.png"))[::10]
    assert all(png.decode(path.read_bytes()) is not None for path in files)
    assert ways.count("pillow") <= (0.2 if folder[0] == "davis2016-val" else 0.0) * len(files)


def test_images_over_pillows_pixel_limit_go_to_pillow(tmp_path, monkeypatch):
    # Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that
    path = tmp_path / "big.png"
    path.write_bytes(make_png(np.zeros((20, 30), np.uint8)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 250)
    assert png.decode(path.read_bytes()) is None
    assert _outcome(read_mask, path) == _outcome(masks._read_with_pillow, path)
    kind, message = _outcome(read_mask, path)
    assert kind == "VosbenchError" and message.startswith(f"{path}: ") and "decompression bombs" in message


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
