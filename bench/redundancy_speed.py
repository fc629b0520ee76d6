"""Frames per second of the redundancy analyses once features are computed.

Random unit features, N positions x C channels per frame (default 1620 x 64: a 480p
frame at stride 16 with STCN's key), and a two-object mask that moves, so that every
analysis has work to do. Each analysis is timed alone over the same frames, then all of
them together through ``analyse`` (what ``vosbench redundancy`` runs per sequence).
Prints the figures; writes nothing unless ``--out FILE.csv`` is given. Timings on a
shared machine are rough: the best of ``--repeats`` runs is reported.

    python bench/redundancy_speed.py [--positions 1620] [--channels 64] [--frames 30]
        [--bases 256] [--threads 2] [--repeats 3] [--out FILE.csv]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vosbench.redundancy.analysis import Frame, Settings, analyse  # noqa: E402
from vosbench.redundancy.bank import BankRedundancy  # noqa: E402
from vosbench.redundancy.em import frame_bases  # noqa: E402
from vosbench.redundancy.histogram import Bins, Unit, max_counts, pair_counts  # noqa: E402
from vosbench.redundancy.matching import SwemMatching  # noqa: E402
from vosbench.redundancy.variation import SwiftNetVariation  # noqa: E402


def synthetic_frames(count: int, positions: int, channels: int, seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    width = int(np.sqrt(positions * 16 / 9)) or 1
    rows = np.arange(positions) // width
    cols = np.arange(positions) % width
    frames = []
    for t in range(count):
        features = rng.standard_normal((positions, channels)).astype(np.float32)
        features /= np.linalg.norm(features, axis=1, keepdims=True)
        labels = np.zeros(positions, np.int64)
        labels[(abs(rows - rows.max() / 2) < rows.max() / 4) & (abs(cols - t - width / 3) < width / 6)] = 1
        labels[(rows > rows.max() * 0.7) & (cols > width / 2)] = 2
        soft = torch.from_numpy(np.stack([labels == 1, labels == 2]).astype(np.float32))
        colour = torch.from_numpy(rng.random((3, positions)).astype(np.float32))
        frames.append(Frame(features, colour, (soft, soft.clone())))
    return frames


def timed(run, frames: list[Frame], repeats: int) -> tuple[float, float]:
    """Best wall and CPU seconds per frame over ``repeats`` runs of ``run(frames)``.

    CPU time (all threads of the process) shows what a busy machine hides: with one
    thread it is the wall time the work would take alone.
    """
    wall = cpu = float("inf")
    for _ in range(repeats):
        began, began_cpu = time.perf_counter(), time.process_time()
        run(frames)
        wall = min(wall, (time.perf_counter() - began) / len(frames))
        cpu = min(cpu, (time.process_time() - began_cpu) / len(frames))
    return wall, cpu


def measure_speeds(positions: int = 1620, channels: int = 64, count: int = 30, bases: int = 256, repeats: int = 3,
                   verbose: bool = False) -> pd.DataFrame:
    """One row per analysis: best wall ms per frame, frames per second and CPU ms per frame."""
    settings = Settings(bases=bases)
    bins = Bins(settings.bins)
    frames = synthetic_frames(count, positions, channels)
    units = [Unit.of(f.features) for f in frames]
    base_units = [Unit.of(frame_bases(f.features, settings.bases)) for f in frames]

    def inter(_):
        for a, b in zip(units[1:], units[:-1]):
            max_counts(a, b, bins)

    def intra(_):
        for u in units:
            pair_counts(u, bins)

    def em(fs):
        for f in fs:
            frame_bases(f.features, settings.bases)

    def inter_em(_):
        for a, b in zip(units[1:], base_units[:-1]):
            max_counts(a, b, bins)

    def intra_em(_):
        for b in base_units:
            pair_counts(b, bins)

    def matching(fs, adaptive: bool):
        analysis = SwemMatching(bins, settings.bases // 2, adaptive)
        analysis.start(2)
        for t, (f, u) in enumerate(zip(fs, units)):
            analysis.step(t, u, f.features, f.masks, t == len(fs) - 1)

    def variation(fs):
        analysis = SwiftNetVariation(settings.th_f, settings.th_m, settings.p_th, settings.beta)
        analysis.start(2)
        for t, f in enumerate(fs):
            analysis.step(t, f.colour, f.features, f.masks[0])
        analysis.finish(positions)

    def bank(fs):
        analysis = BankRedundancy(bins, settings.bank_every)
        analysis.start()
        for t, u in enumerate(units):
            analysis.step(t, u, t == len(fs) - 1)

    parts = {
        "inter": inter,
        "intra": intra,
        "em_compression": em,
        "inter_em (bases given)": inter_em,
        "intra_em (bases given)": intra_em,
        "matching_fixed": lambda fs: matching(fs, False),
        "matching_adaptive": lambda fs: matching(fs, True),
        "variation": variation,
        "bank": bank,
        "inter + intra": lambda fs: (inter(fs), intra(fs)),
        "all (analyse)": lambda fs: analyse(fs, len(fs), 2, settings),
    }
    rows = []
    for name, run in parts.items():
        wall, cpu = timed(run, frames, repeats)
        rows.append({"analysis": name, "ms_per_frame": 1e3 * wall, "frames_per_s": 1 / wall, "cpu_ms_per_frame": 1e3 * cpu})
        if verbose:
            print(f"{name:24s} {1e3 * wall:8.2f} ms/frame {1 / wall:8.1f} frames/s   cpu {1e3 * cpu:8.2f} ms/frame",
                  flush=True)
    return pd.DataFrame(rows).assign(positions=positions, channels=channels, bases=bases,
                                     threads=torch.get_num_threads(), frames=count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=1620)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--bases", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="CSV file for the figures (default: print only)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = measure_speeds(args.positions, args.channels, args.frames, args.bases, args.repeats, verbose=True)
    print(f"N={args.positions} C={args.channels} K={args.bases}, {args.threads} threads, best of {args.repeats}")
    if args.out is not None:
        table.to_csv(args.out, index=False)
        print(f"written {args.out}")


if __name__ == "__main__":
    main()
