"""Time SWEM per frame and per stage on a DAVIS 480p sequence.

    python bench/swem_frame_time.py --frames 5 [--checkpoint swem.pth] [--input-size none] [--davis ../shared/data/davis2016-val]

Without --checkpoint the network keeps PyTorch's random initialisation: the timing is
the same (no weight-dependent work), the masks are meaningless. The default input size
is the release's DAVIS evaluator's 480x864. Prints one row per frame (stage times in ms,
bases held per object) and the mean over frames 1.. (frame 0 only memorises).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from methods.base import STAGES  # noqa: E402
from methods.frames import parse_size  # noqa: E402
from methods.memory.em_bases import EMBases  # noqa: E402
from methods.swem import build  # noqa: E402
from methods.swem.method import SWEMMethod  # noqa: E402
from methods.swem.network import SWEM  # noqa: E402
from vosbench.data.video import VideoInfo  # noqa: E402
from vosbench.masks import ObjectIds  # noqa: E402


class WallClock:
    """Stage times of the current frame (CPU wall clock; synchronises CUDA if used)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        yield
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times[name] = self.times.get(name, 0.0) + (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--davis", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-val")
    parser.add_argument("--sequence", default="blackswan")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--checkpoint")
    parser.add_argument("--input-size", default="480x864", help="HxW, or none for the frames' own size")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    images = sorted((args.davis / "JPEGImages" / "480p" / args.sequence).glob("*.jpg"))[: args.frames]
    frames = [np.asarray(Image.open(p).convert("RGB")) for p in images]
    first = (np.asarray(Image.open(args.davis / "Annotations" / "480p" / args.sequence / "00000.png")) > 127).astype(np.uint8)
    if args.checkpoint:
        method = build({"input_size": args.input_size}, args.checkpoint, device=args.device)
    else:
        method = SWEMMethod(SWEM().eval(), EMBases(), args.device, input_size=parse_size(args.input_size))
    clock = WallClock()
    method.clock = clock
    h, w = frames[0].shape[:2]
    method.start(VideoInfo(args.sequence, len(frames), h, w, ObjectIds((1,)), {1: 0}))

    rows = []
    for t, frame in enumerate(frames):
        clock.times = {}
        start = time.perf_counter()
        method.step(frame, first if t == 0 else None, t == len(frames) - 1)
        total = (time.perf_counter() - start) * 1000
        report = method.memory()
        stages = {name: clock.times.get(name, 0.0) for name in STAGES}
        rows.append({"frame": t, **stages, "total": total, "bases": report.per_object[0], "kib": report.nbytes / 2**10})
    table = pd.DataFrame(rows)
    size = "x".join(map(str, method.input_size or (h, w)))
    print(f"SWEM {args.sequence} {h}x{w} -> {size}, device {args.device}, {args.threads} threads, weights {'file' if args.checkpoint else 'random'}")
    print(table.round(1).to_string(index=False))
    print("mean over frames 1..: " + ", ".join(f"{c} {table[c][1:].mean():.1f} ms" for c in (*STAGES, "total")))


if __name__ == "__main__":
    main()
