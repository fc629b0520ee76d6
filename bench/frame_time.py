"""Per-frame latency of a registered method by stage, on the first frames of a DAVIS 2016 sequence.

The method is built through the registry and its checkpoint loader. Without
``--checkpoint`` the synthetic conformance weights (../shared/conformance/<method>) are
regenerated (speed does not depend on the values); ``--training-free`` times the method
without weights. CPU timings on a shared machine are rough.

    python bench/frame_time.py --method stcn [--set mem_every=5] [--sequence blackswan] [--frames 15]
        [--threads 2] [--device cpu] [--checkpoint FILE | --training-free]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from methods.base import STAGES  # noqa: E402
from vosbench import registry  # noqa: E402
from vosbench.data.video import VideoInfo  # noqa: E402
from vosbench.masks import ObjectIds  # noqa: E402


class StageTimer:
    """A clock for ``Method.clock``: wall time per stage of the current frame."""

    def __init__(self, device: torch.device):
        self.device = device
        self.frame: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def stage(self, name: str):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        yield
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.frame[name] += time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "davis2016-val")
    parser.add_argument("--sequence", default="blackswan")
    parser.add_argument("--frames", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--method", required=True, help="a registered method: stcn, swiftnet, swem, ...")
    parser.add_argument("--set", dest="settings", action="append", default=[], help="parameter as name=value")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--training-free", action="store_true", help="no weights: the method's training-free mode")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = args.checkpoint
        if checkpoint is None and not args.training_free:
            from conformance import write_checkpoint

            checkpoint = write_checkpoint(args.method, Path(scratch) / "synthetic.pth")
        spec = registry.get(args.method)
        config = spec.resolve(registry.parse_settings(args.settings))
        method = spec.factory(config, checkpoint=str(checkpoint) if checkpoint else None, device=args.device)

    paths = sorted((args.data / "JPEGImages" / "480p" / args.sequence).glob("*.jpg"))[: args.frames]
    frames = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    first = np.asarray(Image.open(args.data / "Annotations" / "480p" / args.sequence / f"{paths[0].stem}.png").convert("L"))
    mask = (first > 127).astype(np.uint8)
    height, width = mask.shape
    method.start(VideoInfo(args.sequence, len(frames), height, width, ObjectIds((1,)), {1: 0}))
    timer = StageTimer(method.device)
    method.clock = timer
    rows = []
    for t, frame in enumerate(frames):
        timer.frame.clear()
        start = time.perf_counter()
        method.step(frame, mask if t == 0 else None, t == len(frames) - 1)
        total = time.perf_counter() - start
        report = method.memory()
        rows.append({"frame": t, "total_s": total, **{f"{k}_s": timer.frame.get(k, 0.0) for k in STAGES},
                     "stored": report.per_object[0], "matched": (report.matched or report.per_object)[0],
                     "mib": report.nbytes / 2**20})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    steady = table[table.frame > 0]
    weights = "training-free" if args.training_free else ("file" if args.checkpoint else "synthetic")
    print(f"{args.method} ({weights}) {args.sequence} {height}x{width}, {args.device}, {args.threads} threads: "
          f"median {steady.total_s.median():.3f} s per frame over frames 1..{len(frames) - 1}")


if __name__ == "__main__":
    main()
