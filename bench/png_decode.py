"""Per-file decode time of annotation PNGs: ``vosbench.png.decode`` against Pillow.

First the files as they are: every PNG of the DAVIS 2016 val annotations and the shared
prediction sets (or the folders given). Then the same masks as every common writer
writes them (bench/png_writers.py: each PNG filter type on every row, libpng's adaptive
choice as OpenCV's writer makes it, Pillow's palette and greyscale writers), re-encoded
in memory from every ``--every``-th prediction. Files are decoded by each reader in turn,
file by file, so that all see the same load; it prints CPU milliseconds per file (median
of --repeat passes) and the ratios, and checks that both give the same pixels. Run from
the project root:

    python bench/png_decode.py [FOLDER ...] [--repeat R] [--every K] [--writers none,paeth,...]

"Pillow" is ``np.asarray(Image.open(file))``; "ours" is ``vosbench.png.decode`` with
Pillow for the files it leaves to Pillow (what ``vosbench.masks.read_mask`` does, less
the file reading), and "read_mask" the function itself, on the files as they are.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import png_writers  # noqa: E402
from vosbench import png  # noqa: E402
from vosbench.masks import read_mask  # noqa: E402

SHARED = Path(os.environ.get("VOSBENCH_SHARED", ROOT.parent / "shared"))


def pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def ours(data: bytes) -> np.ndarray:
    pixels = png.decode(data)
    return pixels if pixels is not None else pillow(data)


def cpu_ms(items: list, readers: dict[str, Callable], repeat: int) -> dict[str, list[float]]:
    """CPU ms per item of each reader, one list entry per pass; readers take turns item by item."""
    times: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(repeat):
        spent = dict.fromkeys(readers, 0.0)
        for item in items:
            for name, reader in readers.items():
                began = time.process_time()
                reader(item)
                spent[name] += time.process_time() - began
        for name in readers:
            times[name].append(spent[name] / len(items) * 1e3)
    return times


def check(files: list[bytes]) -> tuple[int, int]:
    """(files left to Pillow, files decoded differently from Pillow)."""
    decoded = [png.decode(data) for data in files]
    declined = sum(pixels is None for pixels in decoded)
    differ = sum(p is not None and not np.array_equal(p, pillow(data)) for p, data in zip(decoded, files))
    return declined, differ


def as_found(paths: list[Path], repeat: int) -> None:
    declined, differ = check([p.read_bytes() for p in paths])
    times = cpu_ms(paths, {"ours": lambda p: ours(p.read_bytes()), "read_mask": read_mask,
                           "Pillow": lambda p: pillow(p.read_bytes())}, repeat)
    print(f"{len(paths)} files as found, {declined} left to Pillow, {differ} decoded differently")
    for name, values in times.items():
        passes = ", ".join(f"{v:.3f}" for v in values)
        print(f"  {name:10s} {statistics.median(values):6.3f} ms/file  (passes: {passes})")
    slow = statistics.median(times["Pillow"])
    print(f"  Pillow / ours: {slow / statistics.median(times['ours']):.1f}x; "
          f"Pillow / read_mask: {slow / statistics.median(times['read_mask']):.1f}x")


def by_writer(masks: list[np.ndarray], writers: list[str], repeat: int) -> None:
    print(f"\n{len(masks)} masks as each writer writes them")
    print(f"  {'writer':12s} {'to Pillow':>9s} {'differ':>6s} {'ours ms':>8s} {'Pillow ms':>9s} {'Pillow/ours':>11s}")
    for writer in writers:
        files = [png_writers.write(mask, writer) for mask in masks]
        declined, differ = check(files)
        times = cpu_ms(files, {"ours": ours, "Pillow": pillow}, repeat)
        fast, slow = statistics.median(times["ours"]), statistics.median(times["Pillow"])
        print(f"  {writer:12s} {declined:9d} {differ:6d} {fast:8.3f} {slow:9.3f} {slow / fast:10.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--every", type=int, default=10, help="re-encode every K-th prediction for the writers")
    parser.add_argument("--writers", default=",".join(png_writers.WRITERS),
                        help=f"comma-separated, of {', '.join(png_writers.WRITERS)} ('' for none)")
    args = parser.parse_args()
    predictions = sorted((SHARED / "data" / "predictions").glob("*/"))
    folders = args.folders or [SHARED / "data" / "davis2016-val" / "Annotations" / "480p", *predictions]
    files = sorted(p for folder in folders for p in folder.rglob("*.png"))
    if not files:
        sys.exit(f"no PNG files under {', '.join(map(str, folders))}")
    as_found(files, args.repeat)
    writers = [w for w in args.writers.split(",") if w]
    if writers:
        sources = sorted(p for folder in (args.folders or predictions) for p in folder.rglob("*.png"))
        by_writer([read_mask(p) for p in sources[:: args.every]], writers, args.repeat)


if __name__ == "__main__":
    main()
