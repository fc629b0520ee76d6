"""The whole benchmark as one command: one table on screen, results.csv and environment.json on disk.

Measures, in this order and in one process (so every ratio compares figures taken
together): the evaluator's CPU time on DAVIS 2016 val predictions (and the reference
evaluators' when their checkouts are given); the convolution and matmul references;
each method's s/frame by stage at 480p on synthetic official-layout weights, its FLOPs
per frame and stage, and the GFLOP/s that makes; STCN's memory read at 20 stored frames;
telemetry's overhead; the redundancy analyses' frames/s; the demo's wall time.

Anchors: with ``--official NAME=CHECKOUT`` the official code is timed in this run, on
the same frames and weights (``bench/official.py``); otherwise the figures measured on
this machine when issue 8 was written stand in. FLOPs are those of the direct
convolutions the networks define (counted with ``fast_conv=false``): NNPACK's Winograd
does fewer multiplications for the same result, so a stage's GFLOP/s can exceed the
convolution reference.

    python bench/run.py [--quick] [--out bench/results/<timestamp>] [--device cpu|cuda] [--threads 2]
        [--official stcn=PATH] [--official swiftnet=PATH] [--official swem=PATH] [--official xmem=PATH] [--official cutie=PATH]
        [--official sam2=PATH]
        [--reference-evaluator davis2017-evaluation=PATH] [--reference-evaluator vos-benchmark=PATH]
        [--reference-python PYTHON]

``--quick`` is a smoke run of about a minute: fewer frames and repeats, no demo.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH), str(ROOT / "tests")]

import vosbench  # noqa: E402,F401 - before torch: it sets OpenMP's wait policy
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import eval_speed  # noqa: E402
import flops  # noqa: E402
import frame_time  # noqa: E402
import memory_read  # noqa: E402
import official  # noqa: E402
import redundancy_speed  # noqa: E402
import telemetry_overhead  # noqa: E402
from methods.base import STAGES  # noqa: E402
from vosbench import registry  # noqa: E402
from vosbench.atomic import atomic_dir  # noqa: E402
from vosbench.telemetry.environment import environment as machine_environment  # noqa: E402

METHODS = ("stcn", "swiftnet", "swem", "xmem", "cutie", "sam2")
# Official code as released, float32, 2 threads, DAVIS 480p, median s/frame (issue 8).
OFFICIAL_S_PER_FRAME = {"stcn": 1.24, "swiftnet": 0.43, "swem": 1.48}
OFFICIAL_LABEL = "official, measured earlier on this machine (issue 8)"
OFFICIAL_RUN_LABEL = "official code, this run (same frames and weights)"
# STCN's memory read at 20 stored frames, official code (issue 8)
OFFICIAL_READ_S = 1.4
REFERENCE_EVALUATORS = ("davis2017-evaluation", "vos-benchmark")


@dataclass
class Row:
    """One measurement and what it is compared with: ``ratio`` is anchor / value for a time
    (the speed-up over the anchor), value / anchor for anything else."""

    measurement: str
    method: str
    stage: str
    value: float
    unit: str
    anchor: float | None = None
    anchor_source: str = ""
    ratio: float | None = None


@dataclass
class Plan:
    """How much of each measurement to do."""

    frames: int  # per method, the first is the reference frame
    repeats: int
    telemetry: dict
    redundancy: dict
    demo: bool


FULL = Plan(frames=8, repeats=3, telemetry=dict(videos=2, frames=6, size="240x432", repeats=2),
            redundancy=dict(count=20, repeats=2), demo=True)
QUICK = Plan(frames=3, repeats=1, telemetry=dict(videos=1, frames=6, size="240x432", repeats=2),
             redundancy=dict(count=4, bases=64, repeats=1), demo=False)


def evaluator_rows(pred: Path, gt: Path, workers: int, references: dict[str, Path], reference_python: str,
                   repeats: int) -> list[Row]:
    """CPU seconds of our evaluator (command, in process, decoding floor) and of each reference."""
    measures, _ = eval_speed.measure_eval(pred, gt, workers, repeats, references.get("davis2017-evaluation"),
                                          references.get("vos-benchmark"), reference_python)
    ours = measures[0]
    rows = [Row("eval_cpu", m.name, "", m.cpu_s, "s") for m in measures[:3]]
    # each reference compared with our command
    for m in measures[3:]:
        rows.append(Row("eval_cpu", m.name, "", m.cpu_s, "s", ours.cpu_s, "vosbench eval (command)",
                        m.cpu_s / ours.cpu_s))
    return rows


def reference_rows(device: str, repeats: int) -> tuple[list[Row], float, float]:
    """The convolution (each shape and format, and the best) and matmul references, and the two best GFLOP/s."""
    conv = flops.conv_reference(device, repeats)
    best = conv.loc[conv.gflops.idxmax()]
    matmul = flops.matmul_reference(device, repeats)
    rows = [Row("reference_gflops", "conv3x3", f"{s.shape} {s.format}", s.gflops, "GFLOP/s") for s in conv.itertuples()]
    rows.append(Row("reference_gflops", "conv3x3", "best", float(best.gflops), "GFLOP/s"))
    rows.append(Row("reference_gflops", "matmul", f"{flops.MATMUL_SIZE}^2", matmul, "GFLOP/s"))
    return rows, float(best.gflops), matmul


def method_rows(name: str, frames: list[np.ndarray], mask: np.ndarray, device: str, conv: float,
                matmul: float, checkout: Path | None = None) -> list[Row]:
    """s/frame by stage, FLOPs per frame and stage, achieved GFLOP/s, over frames 1.. (0 only memorizes).

    The total is the median, as the anchors are; a stage is the mean, so that a periodic
    stage (STCN memorizes every 5th frame) counts what it costs per frame instead of 0.
    """
    method = frame_time.build_method(name, [], device=device)
    foreground = []
    times = frame_time.time_frames(method, frames, mask, "bench", foreground)
    direct_settings = ["fast_conv=false"] if "fast_conv" in registry.get(name).defaults() else []
    direct = frame_time.build_method(name, direct_settings, device=device)
    counts = flops.count_frames(direct, frame_time.video_info("bench", len(frames), mask), frames, mask, STAGES)
    times, counts = times.iloc[1:], counts.iloc[1:]
    rows = []
    anchor, source = OFFICIAL_S_PER_FRAME.get(name), OFFICIAL_LABEL
    if checkout is not None and device == "cpu":
        official_times, official_prob = official.OFFICIAL[name](checkout, frames, mask)
        anchor, source = float(np.median(official_times[1:])), OFFICIAL_RUN_LABEL
        rows.append(Row("official_agreement", name, "mask pixels", official.mask_agreement(official_prob, np.stack(foreground)),
                        "fraction"))
    for stage in ("total", *STAGES):
        seconds = float(times[f"{stage}_s"].median() if stage == "total" else times[f"{stage}_s"].mean())
        flop = float(counts[stage].mean())
        if stage == "total":
            rows.append(Row("s_per_frame", name, stage, seconds, "s", anchor, source if anchor else "",
                            anchor / seconds if anchor else None))
        else:
            rows.append(Row("s_per_frame", name, stage, seconds, "s"))
        rows.append(Row("gflop_per_frame", name, stage, flop / 1e9, "GFLOP"))
        if flop > 0 and seconds > 0:
            achieved = flop / seconds / 1e9
            rows.append(Row("achieved_gflops", name, stage, achieved, "GFLOP/s", conv, "conv3x3 best, this run",
                            achieved / conv))
            if stage == "total":
                rows.append(Row("achieved_gflops", name, "total vs matmul", achieved, "GFLOP/s", matmul,
                                "matmul, this run", achieved / matmul))
    return rows


def memory_read_rows(repeats: int, checkout: Path | None) -> list[Row]:
    """STCN's read of a 20-frame bank, against the official bank timed now (with a checkout)
    or the issue's figure."""
    row = memory_read.measure([20], repeats=repeats, official_checkout=checkout).iloc[0]
    anchor, source = (row.official_s, OFFICIAL_RUN_LABEL) if checkout else (OFFICIAL_READ_S, OFFICIAL_LABEL)
    return [Row("memory_read_s", "stcn", "20 stored frames", float(row.ours_s), "s", float(anchor), source,
                float(anchor / row.ours_s))]


def telemetry_rows(device: str, options: dict) -> list[Row]:
    """Telemetry's overhead on training-free SwiftNet (fast, so the overhead shows), end to end and accounted."""
    result = telemetry_overhead.measure_overhead("swiftnet", [], device=device, **options)
    method = "swiftnet training-free"
    return [Row("telemetry_overhead", method, "end to end", result["overhead_pct"], "%", 3.0, "target",
                result["overhead_pct"] / 3.0),
            Row("telemetry_overhead", method, "accounted", result["accounted_pct"], "%", 3.0, "target",
                result["accounted_pct"] / 3.0),
            Row("frame_ms", method, "telemetry off", result["off_ms"], "ms")]


def redundancy_rows(options: dict) -> list[Row]:
    table = redundancy_speed.measure_speeds(**options)
    return [Row("redundancy_frames_per_s", "redundancy", r.analysis, r.frames_per_s, "frames/s")
            for r in table.itertuples()]


def demo_rows() -> list[Row]:
    from vosbench.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="bench-demo.") as folder:
        began = time.perf_counter()
        result = run_demo(Path(folder) / "demo")
        wall = time.perf_counter() - began
    return [Row("demo_wall", "demo", "total", wall, "s"),
            *(Row("demo_wall", "demo", step, seconds, "s") for step, seconds in result.seconds.items())]


def environment(args: argparse.Namespace, plan: Plan) -> dict:
    """What the figures depend on: versions, CPU, threads, device, commit and the plan.

    The machine part is what a run's manifest records (``vosbench.telemetry.environment``);
    the flat keys repeat the figures a reader of this file looks for first.
    """
    machine = machine_environment()
    git, cpu = machine["git"], machine["cpu"]
    env = {
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git["commit"] + ("-dirty" if git["dirty"] else "") if git else "unknown",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "platform": machine["platform"],
        "cpu_model": cpu["model"],
        "cpu_count": cpu["logical_cores"],
        "cpus_available": cpu["usable_cores"],
        "torch_threads": cpu["torch_threads"],
        "mkldnn": torch.backends.mkldnn.is_available(),
        "mkl": torch.backends.mkl.is_available(),
        "device": args.device,
        "quick": args.quick,
        "plan": asdict(plan),
        "sequence": args.sequence,
        "anchors_s_per_frame": {"values": OFFICIAL_S_PER_FRAME, "source": OFFICIAL_LABEL},
        "official_checkouts": {name: str(path) for name, path in args.official_checkouts.items()},
        "machine": machine,
    }
    if args.device == "cuda":
        env["cuda"] = torch.version.cuda
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def write_results(rows: list[Row], env: dict, out: Path) -> None:
    """``results.csv`` (one row per measurement) and ``environment.json``, both or neither."""
    table = pd.DataFrame([asdict(r) for r in rows])
    with atomic_dir(out) as folder:
        table.to_csv(folder / "results.csv", index=False)
        (folder / "environment.json").write_text(json.dumps(env, indent=2) + "\n")


def _fmt(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return ""
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def in_table(row: Row) -> bool:
    """Details that stay in the CSV: each convolution shape, each redundancy analysis alone."""
    if row.measurement == "reference_gflops" and row.method == "conv3x3":
        return row.stage == "best"
    if row.measurement == "redundancy_frames_per_s":
        return row.stage in ("inter + intra", "all (analyse)")
    return True


def print_table(rows: list[Row], title: str, console: Console | None = None) -> None:
    """One table: the measurements, each beside its anchor (the sources listed under it) and the ratio."""
    sources = list(dict.fromkeys(r.anchor_source for r in rows if r.anchor is not None))
    caption = "  ".join(f"[{i + 1}] {s}" for i, s in enumerate(sources)) + (
        "\nratio: anchor / value for s/frame (speed-up over the anchor), value / anchor otherwise")
    table = Table(title=title, caption=caption)
    for column in ("what", "value", "unit", "anchor", "ratio"):
        table.add_column(column, justify="left" if column == "what" else "right", no_wrap=column == "what")
    for r in filter(in_table, rows):
        what = " ".join(part for part in (r.measurement, r.method, r.stage) if part)
        anchor = f"{_fmt(r.anchor)} [{sources.index(r.anchor_source) + 1}]" if r.anchor is not None else ""
        table.add_row(what, _fmt(r.value), r.unit, anchor, _fmt(r.ratio))
    (console or Console(width=120)).print(table)


def parse_references(values: list[str]) -> dict[str, Path]:
    references = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or name not in REFERENCE_EVALUATORS:
            raise SystemExit(f"--reference-evaluator {value!r}: give NAME=PATH, NAME one of {', '.join(REFERENCE_EVALUATORS)}")
        if not Path(path).is_dir():
            raise SystemExit(f"--reference-evaluator {value!r}: {path} is not a folder; give the checkout of {name}")
        references[name] = Path(path)
    return references


def parse_official(values: list[str]) -> dict[str, Path]:
    checkouts = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or name not in official.OFFICIAL:
            raise SystemExit(f"--official {value!r}: give NAME=PATH, NAME one of {', '.join(official.OFFICIAL)}")
        if not Path(path).is_dir():
            raise SystemExit(f"--official {value!r}: {path} is not a folder; give a checkout of the official {name}")
        checkouts[name] = Path(path)
    return checkouts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute (no demo)")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results/<UTC timestamp>)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=eval_speed.SHARED / "data" / "davis2016-val")
    parser.add_argument("--sequence", default="blackswan", help="the DAVIS sequence the methods are timed on")
    parser.add_argument("--pred", type=Path, default=eval_speed.SHARED / "data" / "predictions" / "osvos-union",
                        help="predictions the evaluator scores against --data's annotations")
    parser.add_argument("--reference-evaluator", action="append", default=[], metavar="NAME=PATH",
                        help=f"checkout of a reference evaluator: {', '.join(REFERENCE_EVALUATORS)}")
    parser.add_argument("--reference-python", default=sys.executable, help="interpreter for the reference evaluators")
    parser.add_argument("--official", action="append", default=[], metavar="NAME=PATH",
                        help=f"checkout of an official method, timed in this run as its anchor: {', '.join(official.OFFICIAL)}")
    args = parser.parse_args()
    references = parse_references(args.reference_evaluator)
    args.official_checkouts = parse_official(args.official)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device here; run with --device cpu")
    torch.set_num_threads(args.threads)
    plan = QUICK if args.quick else FULL
    out = args.out or ROOT / "bench" / "results" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    console = Console(stderr=True)

    began = time.perf_counter()
    console.log("evaluator")
    rows = evaluator_rows(args.pred, args.data / "Annotations" / "480p", min(args.threads, os.cpu_count() or 1),
                          references, args.reference_python, 1)
    console.log("convolution and matmul references")
    reference, conv, matmul = reference_rows(args.device, plan.repeats)
    rows += reference
    frames, mask = frame_time.load_sequence(args.data, args.sequence, plan.frames)
    for name in METHODS:
        console.log(f"{name}: {len(frames)} frames of {args.sequence}, timed then counted")
        rows += method_rows(name, frames, mask, args.device, conv, matmul, args.official_checkouts.get(name))
    console.log("stcn memory read at 20 stored frames")
    rows += memory_read_rows(plan.repeats, args.official_checkouts.get("stcn"))
    console.log("telemetry overhead")
    rows += telemetry_rows(args.device, plan.telemetry)
    console.log("redundancy analyses")
    rows += redundancy_rows(plan.redundancy)
    if plan.demo:
        console.log("demo")
        rows += demo_rows()
    rows.append(Row("bench_wall", "bench", "total", time.perf_counter() - began, "s"))

    env = environment(args, plan)
    write_results(rows, env, out)
    title = (f"vosbench bench{' --quick' if args.quick else ''}: {env['cpu_model']}, {args.device}, "
             f"{args.threads} threads, torch {torch.__version__}")
    print_table(rows, title)
    print(f"written {out / 'results.csv'} and {out / 'environment.json'}")


if __name__ == "__main__":
    main()
