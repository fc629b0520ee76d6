"""GPU check of the run telemetry: CUDA events against the host clock, NVML, torch peaks.

Generates a small synthetic DAVIS-layout set at 480p, runs the three networks (on the
synthetic official-layout weights: the papers' speeds are the networks', and speed does
not depend on the values; ``--training-free`` runs the weightless mode instead) on
``--device`` (cuda by default) in float32 and in each autocast dtype, and prints per
run: how the CUDA-event step latency agrees with the host clock (median and largest
relative difference), whether the NVML and torch-allocator fields are filled, their
peaks, the manifest's telemetry notes, and FPS beside each paper's figure (STCN 26 FPS
and SWEM 36 on a V100, SwiftNet 70 on a P100) with the ratio: issue 8 asks for 2x on an
H100 in float32. ``--device cpu`` runs the same checks on the CPU path (GPU fields must
then be null, with the reason).

    python bench/gpu_check.py [--device cuda] [--dtypes float32,bfloat16,float16] [--frames 12]
        [--size 480x864] [--methods stcn,swem,swiftnet] [--training-free]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from vosbench import load_run  # noqa: E402 - before torch: it sets OpenMP's wait policy
from vosbench.data import open_dataset  # noqa: E402
from vosbench.run import RunConfig, choose_methods, run  # noqa: E402
from conformance import write_checkpoint  # noqa: E402

GPU_FIELDS = ["gpu_used_bytes", "gpu_process_bytes", "gpu_peak_bytes", "torch_allocated_bytes",
              "torch_reserved_bytes", "torch_peak_bytes"]
# The papers' FPS at DAVIS 480p (SwiftNet's repository says 65 on its P100)
PAPER_FPS = {"stcn": (26.0, "V100"), "swem": (36.0, "V100"), "swiftnet": (70.0, "P100")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtypes", default="float32,bfloat16,float16")
    parser.add_argument("--methods", default="stcn,swem,swiftnet")
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", default="480x864")
    parser.add_argument("--training-free", action="store_true", help="the weightless mode instead of the networks")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data = open_dataset("synthetic", scratch / "data", layout="davis", videos=args.videos, frames=args.frames,
                            objects=2, size=args.size)
        for dtype in args.dtypes.split(","):
            out = scratch / f"run-{dtype}"
            names = args.methods.split(",")
            checkpoints = [] if args.training_free else [f"{n}:{write_checkpoint(n, scratch / f'{n}.pth')}" for n in names]
            methods = choose_methods(names, [], checkpoints)
            run(RunConfig(methods, device=args.device, dtype=dtype), data, out)
            result = load_run(out)
            if dtype == args.dtypes.split(",")[0]:
                session = result.manifest["sessions"][-1]
                print("environment:", json.dumps({k: session["environment"][k] for k in ("packages", "cuda", "nvml")}))
                print("telemetry:", json.dumps(session["telemetry"]))
            report(result, dtype)


def report(result, dtype: str) -> None:
    frames = result.frames
    timed = frames[~frames["warmup"]]
    for method, group in timed.groupby("method", sort=False):
        step, wall = group["step_ms"].to_numpy(), group["wall_ms"].to_numpy()
        relative = np.abs(step - wall) / np.maximum(wall, 1e-9)
        filled = {f: f"{int(group[f].notna().sum())}/{len(group)}" for f in GPU_FIELDS}
        peaks = {f: _mib(frames.loc[frames["method"] == method, f].max()) for f in ("gpu_peak_bytes", "torch_peak_bytes")}
        summary = result.summary.set_index("method").loc[method]
        paper, gpu = PAPER_FPS.get(method, (None, ""))
        versus = f" (paper {paper:.0f} on a {gpu}: {summary['fps'] / paper:.2f}x)" if paper else ""
        print(
            f"{method:9s} {dtype:9s} step_ms p50 {np.median(step):7.2f}  wall_ms p50 {np.median(wall):7.2f}  "
            f"|event - wall| / wall: median {np.median(relative):.3f} max {relative.max():.3f}  "
            f"fps {summary['fps']:.1f}{versus}  J&F {summary['J&F-Mean']:.3f}  peaks {peaks}  filled {filled}"
        )


def _mib(value) -> str:
    return "null" if pd.isna(value) else f"{int(value) / 2**20:.0f} MiB"


if __name__ == "__main__":
    main()
