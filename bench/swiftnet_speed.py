"""Per-frame latency of SwiftNet by stage, on the first frames of a DAVIS 2016 sequence.

Without ``--checkpoint`` the synthetic conformance weights are used (speed does not
depend on the values). CPU timings on a shared machine are rough.

    python bench/swiftnet_speed.py [--sequence blackswan] [--frames 15] [--threads 2] [--device cpu]
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
    parser.add_argument("--checkpoint", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = args.checkpoint
        if checkpoint is None:
            from conformance import write_checkpoint

            checkpoint = write_checkpoint("swiftnet", Path(scratch) / "synthetic.pth")
        spec = registry.get("swiftnet")
        method = spec.factory(spec.defaults(), checkpoint=str(checkpoint), device=args.device)

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
                     "stored": report.per_object[0], "matched": report.matched[0]})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    steady = table[table.frame > 0]
    print(f"{args.sequence} {height}x{width}, {args.device}, {args.threads} threads: "
          f"median {steady.total_s.median():.3f} s per frame over frames 1..{len(frames) - 1}")


if __name__ == "__main__":
    main()
