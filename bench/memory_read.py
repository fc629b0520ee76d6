"""STCN's memory read against the number of stored frames, at DAVIS 480p's key grid.

A periodic bank holding F frames (30x54 positions each, 64-d keys, 512-d values per
object) is read by one query frame, as STCN reads it per frame: L2 affinity, top-20
softmax, values weighed. Keys and values are random (the work does not depend on them).
With ``--official-stcn PATH`` (a checkout of hkchengrex/STCN) the official
``inference_memory_bank.MemoryBank`` reads the same bank in the same run, and the two
readouts are compared.

    python bench/memory_read.py [--frames 5,10,20] [--objects 1] [--threads 2] [--repeats 5]
        [--official-stcn PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import vosbench  # noqa: E402,F401 - before torch: it sets OpenMP's wait policy
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from methods.memory.periodic import PeriodicBank  # noqa: E402

GRID = (30, 54)  # 480x864 at stride 16
KEY_DIM, VALUE_DIM, TOP_K = 64, 512, 20


def bank_contents(frames: int, objects: int, seed: int = 0) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Per stored frame: keys [64, N] and values [K, 512, N]; and a query [64, N]."""
    g = torch.Generator().manual_seed(seed)
    n = GRID[0] * GRID[1]
    keys = [torch.randn(KEY_DIM, n, generator=g) for _ in range(frames)]
    values = [torch.randn(objects, VALUE_DIM, n, generator=g) for _ in range(frames)]
    return keys, values, torch.randn(KEY_DIM, n, generator=g)


def median_seconds(read, repeats: int) -> float:
    read()  # warm-up: allocation, first-touch
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        read()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ours(keys, values, query, repeats: int) -> tuple[float, torch.Tensor]:
    bank = PeriodicBank(every=1, top_k=TOP_K, similarity="l2")
    bank.reset(values[0].shape[0])
    for t, (k, v) in enumerate(zip(keys, values)):
        bank.write(t, k, v, None)
    with torch.inference_mode():
        return median_seconds(lambda: bank.read(query), repeats), bank.read(query).values


def official_bank_class(checkout: Path):
    """``MemoryBank`` from the checkout's inference_memory_bank.py (it needs only torch)."""
    path = checkout / "inference_memory_bank.py"
    if not path.is_file():
        raise SystemExit(f"{path}: not found; give --official-stcn a checkout of hkchengrex/STCN")
    spec = importlib.util.spec_from_file_location("official_stcn_memory_bank", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MemoryBank


def official(bank_class, keys, values, query, repeats: int) -> tuple[float, torch.Tensor]:
    objects = values[0].shape[0]
    bank = bank_class(k=objects, top_k=TOP_K)
    for k, v in zip(keys, values):
        # the official core writes [1, Ck, T, h, w] keys and [K, Cv, T, h, w] values
        bank.add_memory(k.view(1, KEY_DIM, 1, *GRID), v.view(objects, VALUE_DIM, 1, *GRID))
    q = query.view(1, KEY_DIM, *GRID)
    with torch.inference_mode():
        seconds = median_seconds(lambda: bank.match_memory(q), repeats)
        return seconds, bank.match_memory(q).flatten(2)


def measure(frame_counts: list[int], objects: int = 1, repeats: int = 5, official_checkout: Path | None = None) -> pd.DataFrame:
    """One row per bank size: our read time, the official one (if a checkout is given) and
    the largest difference between the two readouts."""
    bank_class = official_bank_class(official_checkout) if official_checkout else None
    rows = []
    for frames in frame_counts:
        keys, values, query = bank_contents(frames, objects)
        seconds, readout = ours(keys, values, query, repeats)
        row = {"stored_frames": frames, "positions": frames * GRID[0] * GRID[1], "objects": objects, "ours_s": seconds}
        if bank_class is not None:
            official_seconds, official_readout = official(bank_class, keys, values, query, repeats)
            row |= {"official_s": official_seconds, "speedup": official_seconds / seconds,
                    "max_abs_diff": (readout - official_readout).abs().max().item()}
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="5,10,20", help="stored frames, comma-separated")
    parser.add_argument("--objects", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--official-stcn", type=Path, help="a checkout of hkchengrex/STCN")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = measure([int(f) for f in args.frames.split(",")], args.objects, args.repeats, args.official_stcn)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
