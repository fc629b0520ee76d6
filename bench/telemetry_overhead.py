"""Telemetry overhead: the same `vosbench run` with telemetry on and off, interleaved.

Generates a synthetic DAVIS-layout set (480x864 by default), then runs one method into
fresh run directories, alternating ``telemetry=True`` (stage clocks, memory report,
RSS, NVML on a GPU) and ``telemetry=False`` (the host clock around load, step and
write only). Frame time = the whole run's wall time / frames, so everything telemetry
adds counts; the overhead is the ratio of the medians over repeats. Target: <= 3 %.

On a shared machine that ratio swings with the neighbours' load, so the script also
accounts for telemetry's own work directly: the stage clock around an empty step (best
of several batches) plus ``Probe.measure`` per frame (median over a sequence), as a
share of the telemetry-off frame time.

    python bench/telemetry_overhead.py [--method stcn] [--set name=value] [--videos 3] [--frames 10]
        [--size 480x864] [--repeats 4] [--device cpu] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vosbench import load_run  # noqa: E402 - before torch: it sets OpenMP's wait policy
import torch  # noqa: E402
from methods.base import STAGES  # noqa: E402
from vosbench.data import open_dataset  # noqa: E402
from vosbench.engine import segment  # noqa: E402
from vosbench.run import RunConfig, choose_methods, run  # noqa: E402
from vosbench.telemetry import Probe  # noqa: E402


def one_run(methods, data, device: str, telemetry: bool, folder: Path) -> tuple[float, float]:
    """(wall ms per frame of the whole run, median step_ms) of one fresh run."""
    config = RunConfig(methods, device=device, telemetry=telemetry, evaluate=False, warmup=0)
    began = time.perf_counter()
    run(config, data, folder)
    wall = time.perf_counter() - began
    frames = load_run(folder).frames
    return 1000 * wall / len(frames), float(frames["step_ms"].median())


def clock_cost_ms(device: str, frames: int = 2000) -> float:
    """The stage clock's cost for one frame (a step with every stage), on an empty step."""
    with Probe(device) as probe:
        best = float("inf")
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(frames):
                with probe.stepping():
                    for stage in STAGES:
                        with probe.clock.stage(stage):
                            pass
                probe.clock.read()
            best = min(best, (time.perf_counter() - began) / frames)
    return 1000 * best


def measure_cost_ms(methods, data, device: str) -> float:
    """Median time of ``Probe.measure`` (memory report, RSS, GPU readings) per frame."""
    method = methods[0].build(device, "float32")
    costs = []
    with Probe(device) as probe:
        for _ in segment(method, data.video(data.sequences[0]), probe=probe):
            began = time.perf_counter()
            probe.measure(method)
            costs.append(1000 * (time.perf_counter() - began))
    return statistics.median(costs)


def measure_overhead(method: str, settings: list[str], videos: int, frames: int, size: str, repeats: int,
                     device: str = "cpu") -> dict:
    """Telemetry on vs off over interleaved repeats, and telemetry's own work accounted directly.

    Returns the per-repeat frame times (ms, whole run / frames) and median step times of
    each side, the end-to-end overhead in percent and the accounted one (stage clock +
    ``Probe.measure`` per frame, as a share of the telemetry-off frame time).
    """
    methods = choose_methods([method], settings)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data = open_dataset("synthetic", scratch / "data", layout="davis", videos=videos, frames=frames,
                            objects=2, size=size)
        one_run(methods, data, device, True, scratch / "warm")  # first-touch costs (imports, allocator)
        results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for repeat in range(repeats):
            order = (True, False) if repeat % 2 == 0 else (False, True)  # interleaved, alternating first
            for telemetry in order:
                results[telemetry].append(one_run(methods, data, device, telemetry, scratch / f"r{repeat}{telemetry}"))
        clock, measure = clock_cost_ms(device), measure_cost_ms(methods, data, device)
    on = statistics.median(r[0] for r in results[True])
    off = statistics.median(r[0] for r in results[False])
    return {"frame_ms": {t: [r[0] for r in results[t]] for t in (False, True)},
            "step_ms": {t: [r[1] for r in results[t]] for t in (False, True)},
            "on_ms": on, "off_ms": off, "overhead_pct": 100 * (on / off - 1),
            "clock_ms": clock, "measure_ms": measure, "accounted_pct": 100 * (clock + measure) / off}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="stcn")
    parser.add_argument("--set", dest="settings", action="append", default=[], help="parameter as name=value")
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--size", default="480x864")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    result = measure_overhead(args.method, args.settings, args.videos, args.frames, args.size, args.repeats,
                              args.device)
    print(f"{args.method} on {args.videos} synthetic videos x {args.frames} frames of {args.size}, {args.device}, "
          f"{args.threads} threads, {args.repeats} interleaved repeats")
    for telemetry in (False, True):
        frame, step = result["frame_ms"][telemetry], result["step_ms"][telemetry]
        print(f"  telemetry {'on ' if telemetry else 'off'}: frame time (whole run / frames) ms per repeat "
              f"{', '.join(f'{v:.1f}' for v in frame)}; median {statistics.median(frame):.1f}; "
              f"median step_ms {statistics.median(step):.1f}")
    print(f"  overhead, end to end: {result['overhead_pct']:+.2f} % of frame time (target <= 3 %)")
    print(f"  overhead, accounted: stage clock {result['clock_ms'] * 1000:.1f} us + measure "
          f"{result['measure_ms'] * 1000:.1f} us per frame = {result['accounted_pct']:.3f} % of the telemetry-off "
          f"frame time")


if __name__ == "__main__":
    main()
