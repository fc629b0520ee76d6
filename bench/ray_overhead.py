"""What Ray costs a run: its start-up, and the same sweep in process against on a local Ray.

Prints ``import ray``, ``ray.init`` of a local Ray with ``--workers`` CPUs and its
shutdown, then the wall time of one training-free STCN sweep (2 settings x ``--videos``
synthetic videos) in this process and with ``--executor ray`` on a local Ray, each
starting from an empty run directory. Run from the project root:

    python bench/ray_overhead.py [--workers 2] [--videos 4] [--frames 24] [--size 128x224]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vosbench.data import open_dataset  # noqa: E402
from vosbench.executors.ray import RayExecutor  # noqa: E402
from vosbench.sweep import plan_sweep, run_sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", default="128x224")
    args = parser.parse_args()

    began = time.perf_counter()
    import ray

    imported = time.perf_counter()
    ray.init(address="local", num_cpus=args.workers, include_dashboard=False)
    started = time.perf_counter()
    ray.shutdown()
    stopped = time.perf_counter()
    print(f"ray {ray.__version__}: import {imported - began:.2f} s, local start ({args.workers} CPUs) "
          f"{started - imported:.2f} s, shutdown {stopped - started:.2f} s")

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        data = open_dataset("synthetic", root / "data", layout="davis", videos=args.videos, frames=args.frames,
                            objects=2, size=args.size)
        plan = plan_sweep(["stcn"], ["mem_every=2,4"])
        work = f"2 settings x {args.videos} videos x {args.frames} frames of {args.size}"
        for name, executor in (("in process", None), (f"ray, {args.workers} workers", RayExecutor(workers=args.workers))):
            began = time.perf_counter()
            run_sweep(plan, plan.config(), data, root / name.replace(" ", "_").replace(",", ""), executor=executor)
            print(f"sweep {work}, {name}: {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
