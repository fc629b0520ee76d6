"""Long videos: does a method's latency and memory stay flat over thousands of frames?

One generated video (default 3000 frames at 240x432, 2 objects) runs through the normal
run pipeline with telemetry: SWEM, STCN with a memory cap (``max_frames``, its oldest
non-given frame evicted), XMem's working/long-term memory (official settings:
consolidation after 10 working frames, 128 prototypes, at most ``--long-term-elements``
long-term entries, 10,000 as in its eval.py) and SAM 2's recent window, with bounded
storage (``keep=window``) and with the official keep-everything storage (``keep=all``:
it attends to the same window but stores every frame), over every frame; STCN uncapped
and SwiftNet over the first ``--growing-frames``. SAM 2's keep-everything memory grows
without bound but its read does not, so it runs the whole video; the other two grow in
both (STCN's bank by a frame every 5th frame, SwiftNet's pixel-adaptive memory by the
positions each update appends): the point is to show their growth, not to wait for it
(training-free SwiftNet at 240x432 had slowed to 0.7 s/frame by frame 2200).
``--methods`` runs some of the labels only. Training-free by default, with the
colour/position features (no backbone to wait for): the memory policies are what grow
or not, and they are the same with weights; ``--synthetic-weights`` uses the networks
with the synthetic official-layout weights instead (much slower).

Prints one table per label: the frame from which the memory has settled (the first at
which it reaches 90 % of its largest value over the last 100 frames, and at least frame
100), the median latency of the 100 frames from there and of the last 100, the
least-squares slope of latency over the frame index, the largest memory bytes and stored
features of those two windows (a memory consolidated every 25 frames, as XMem's, is so
compared at the same phase), the memory after a third, two thirds and all of the frames
(``mib_at_<frames>``) and a verdict. "flat" means it settled within the first two thirds of the video, the last 100 frames' median latency is within 15 % of the 100
from the settled frame and their largest memory within 10 %; anything else "grows". XMem's long-term memory fills for a while (at 10,000 entries and
128 prototypes a consolidation, 78 consolidations, one every 25 frames at the official
settings) and then stays, which is what "settled" shows. Writes long_video.csv and the
report (HTML, PDF) of both runs' curves.

    python bench/long_video.py [--frames 3000] [--size 240x432] [--objects 2] [--cap 20]
        [--long-term-elements 10000] [--growing-frames 600] [--methods sam2@window,sam2@all]
        [--synthetic-weights] [--out bench/results/long-<UTC>]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import vosbench  # noqa: E402 - before torch: it sets OpenMP's wait policy
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vosbench.atomic import atomic_file  # noqa: E402
from vosbench.data import open_dataset  # noqa: E402
from vosbench.data.synth import SynthParams, generate, parse_size  # noqa: E402
from vosbench.run import RunConfig, choose_methods, run  # noqa: E402

WINDOW = 100  # frames per latency window
FLAT_LATENCY, FLAT_MEMORY = 0.15, 0.10


def labels(cap: int) -> tuple[list[str], list[str]]:
    """The labels run over every frame (bounded reads), then those run over the first
    ``--growing-frames`` (reads that grow with the memory)."""
    return ["swem", f"stcn@cap{cap}", "xmem", "sam2@window", "sam2@all"], ["swiftnet", "stcn@uncapped"]


def plan(chosen: list[str], cap: int, long_term: int, synthetic_weights: bool, scratch: Path) -> tuple[list[str], list[str]]:
    """Settings and checkpoints of the ``chosen`` labels."""
    # the colour/position features: the memories grow alike with any features, these cost no backbone
    settings = [
        "swem:input_size=none", f"stcn@cap{cap}:max_frames={cap}", f"xmem:max_long_term_elements={long_term}",
        "xmem:resize_short=none", "sam2@window:keep=window", "sam2@all:keep=all",
        *(f"{label}:features=colour" for label in chosen),
    ]
    checkpoints = []
    if synthetic_weights:
        from conformance import write_checkpoint

        for label in chosen:
            method = label.split("@")[0]
            checkpoints.append(f"{label}:{write_checkpoint(method, scratch / f'{method}.pth')}")
    return [s for s in settings if s.split(":")[0] in chosen], checkpoints


def settled_frame(group: pd.DataFrame) -> int:
    """The first frame (at least WINDOW) at which the memory reaches 90 % of its largest
    value over the last WINDOW frames."""
    late = float(group.memory_bytes.tail(WINDOW).max())
    reached = group.frame[group.memory_bytes >= (1 - FLAT_MEMORY) * late]
    return max(WINDOW, int(reached.iloc[0]))


def flatness(frames: pd.DataFrame, marks: list[int]) -> pd.DataFrame:
    """One row per label from a run's frames table (one video); ``marks``: frame counts
    after which the memory is reported (NaN for a label that stopped before)."""
    rows = []
    for label, group in frames.groupby("method", sort=False):
        group = group.sort_values("frame")
        steady = group[~group.warmup]
        settled = settled_frame(group)
        early = steady[(steady.frame >= settled) & (steady.frame < settled + WINDOW)]
        late = steady.tail(WINDOW)
        slope = np.polyfit(steady.frame.to_numpy(float), steady.step_ms.to_numpy(float), 1)[0] * 1000
        # the largest memory of each window: a memory that is consolidated or trimmed
        # periodically (XMem's) is compared at the same phase
        start = group[(group.frame >= settled) & (group.frame < settled + WINDOW)].max()
        end = group.tail(WINDOW).max()
        latency_ratio = late.step_ms.median() / early.step_ms.median()
        memory_ratio = float(end.memory_bytes) / float(start.memory_bytes)
        flat = (
            settled <= 2 * group.frame.max() / 3
            and abs(latency_ratio - 1) <= FLAT_LATENCY
            and abs(memory_ratio - 1) <= FLAT_MEMORY
        )
        rows.append({
            "label": label,
            "frames": len(group),
            "settled_frame": settled,
            "ms_settled_100": early.step_ms.median(),
            "ms_last_100": late.step_ms.median(),
            "slope_ms_per_1000_frames": slope,
            "memory_mib_settled": float(start.memory_bytes) / 2**20,
            "memory_mib_end": float(end.memory_bytes) / 2**20,
            "stored_settled": int(start.stored_features),
            "stored_end": int(end.stored_features),
            **{f"mib_at_{m}": float(group.memory_bytes[group.frame == m - 1].sum()) / 2**20 if m <= len(group) else np.nan
               for m in marks},
            "verdict": "flat" if flat else "grows",
        })
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--size", default="240x432", help="HxW of the generated video")
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--cap", type=int, default=20, help="STCN's memory capacity in frames")
    parser.add_argument("--long-term-elements", type=int, default=10000, help="XMem's long-term capacity in entries")
    parser.add_argument("--growing-frames", type=int, default=600, help="frames uncapped STCN and SwiftNet run")
    parser.add_argument("--methods", help="comma-separated labels to run (default all): " + ", ".join(sum(labels(20), [])))
    parser.add_argument("--synthetic-weights", action="store_true", help="networks with synthetic weights, not training-free")
    parser.add_argument("--out", type=Path, help="default bench/results/long-<UTC timestamp>; rerun to resume")
    args = parser.parse_args()
    if args.frames < 2 * WINDOW + 1:
        raise SystemExit(f"--frames {args.frames}: give at least {2 * WINDOW + 1}, the table compares windows of {WINDOW}")
    every, growing = labels(args.cap)
    chosen = args.methods.split(",") if args.methods else every + growing
    unknown = sorted(set(chosen) - set(every + growing))
    if unknown:
        raise SystemExit(f"--methods: unknown labels {unknown}; known: {', '.join(every + growing)}")
    out = args.out or BENCH / "results" / datetime.now(timezone.utc).strftime("long-%Y%m%dT%H%M%SZ")
    height, width = parse_size(args.size)
    began = time.perf_counter()
    data = generate(out / "data", SynthParams(videos=1, frames=args.frames, height=height, width=width,
                                              objects=args.objects, seed=0)).root
    dataset = open_dataset("davis2017", data)
    print(f"generated {args.frames} frames at {height}x{width} in {time.perf_counter() - began:.0f} s")

    marks = [args.frames // 3, 2 * args.frames // 3, args.frames]
    with tempfile.TemporaryDirectory() as scratch:
        settings, checkpoints = plan(chosen, args.cap, args.long_term_elements, args.synthetic_weights, Path(scratch))
        runs = {"whole": ([c for c in every if c in chosen], None),
                "growing": ([c for c in growing if c in chosen], min(args.growing_frames, args.frames))}
        runs = {name: run_ for name, run_ in runs.items() if run_[0]}
        tables = []
        for name, (group, max_frames) in runs.items():
            own = [c for c in checkpoints if c.split(":")[0] in group]
            config = RunConfig(choose_methods(group, [s for s in settings if s.split(":")[0] in group], own),
                               max_frames=max_frames)
            started = time.perf_counter()
            run(config, dataset, out / name, command=sys.argv)
            print(f"{name}: {', '.join(group)} in {time.perf_counter() - started:.0f} s")
            tables.append(flatness(vosbench.load_run(out / name).frames, marks))
    table = pd.concat(tables, ignore_index=True)
    with atomic_file(out / "long_video.csv") as path:
        table.to_csv(path, index=False)

    from vosbench.report.build import build_report

    build_report([out / name for name in runs], [], out / "report", title=f"vosbench: {args.frames}-frame video")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"flat: settled within the first two thirds, the last {WINDOW} frames' median latency and largest memory "
          f"within {FLAT_LATENCY:.0%} and {FLAT_MEMORY:.0%} of the {WINDOW} from the settled frame's")
    print(f"written {out / 'long_video.csv'} and {out / 'report'} ({time.perf_counter() - began:.0f} s in all)")


if __name__ == "__main__":
    main()
