"""Per-file decode time of annotation PNGs: ``vosbench.png.decode`` against Pillow.

Decodes every PNG of the DAVIS 2016 val annotations and the shared prediction sets
(or the folders given) with both, alternating file by file so that both see the same
load, and prints CPU milliseconds per file (median of --repeat passes) and the ratio.
Also checks that both give the same pixels. Run from the project root:

    python bench/png_decode.py [FOLDER ...] [--repeat R]

"Pillow" is ``np.asarray(Image.open(path))``; "read_mask" is ``vosbench.masks.read_mask``
(file reading and checks included), what ``vosbench eval`` calls.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from vosbench import png  # noqa: E402
from vosbench.masks import read_mask  # noqa: E402

SHARED = Path(os.environ.get("VOSBENCH_SHARED", ROOT.parent / "shared"))


def pillow(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def ours(path: Path) -> np.ndarray:
    return png.decode(path.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folders = args.folders or [SHARED / "data" / "davis2016-val" / "Annotations" / "480p",
                               *sorted((SHARED / "data" / "predictions").glob("*/"))]
    files = sorted(p for folder in folders for p in folder.rglob("*.png"))
    if not files:
        sys.exit(f"no PNG files under {', '.join(map(str, folders))}")
    declined = [p for p in files if ours(p) is None]
    differ = [p for p in files if p not in declined and not np.array_equal(ours(p), pillow(p))]
    readers = {"vosbench.png.decode": ours, "read_mask": read_mask, "Pillow": pillow}
    times: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(args.repeat):
        spent = dict.fromkeys(readers, 0.0)
        for path in files:
            for name, reader in readers.items():
                began = time.process_time()
                reader(path)
                spent[name] += time.process_time() - began
        for name in readers:
            times[name].append(spent[name] / len(files) * 1e3)
    print(f"{len(files)} files, {len(declined)} left to Pillow, {len(differ)} decoded differently")
    for name, values in times.items():
        passes = ", ".join(f"{v:.3f}" for v in values)
        print(f"{name:22s} {statistics.median(values):6.3f} ms/file  (passes: {passes})")
    fast, slow = statistics.median(times["vosbench.png.decode"]), statistics.median(times["Pillow"])
    through_read_mask = statistics.median(times["read_mask"])
    print(f"Pillow / ours: {slow / fast:.1f}x; Pillow / read_mask: {slow / through_read_mask:.1f}x")


if __name__ == "__main__":
    main()
