"""Per-frame latency of a registered method by stage, on the first frames of a DAVIS 2016 sequence.

The method is built through the registry and its checkpoint loader. Without
``--checkpoint`` the synthetic conformance weights (../shared/conformance/<method>) are
regenerated (speed does not depend on the values); ``--training-free`` times the method
without weights. ``--objects K`` cuts the sequence's object into K (vertical bands of
equal area), for the time per frame against the number of objects (SAM 2 tracks each
object apart: sam2#593). CPU timings on a shared machine are rough.

    python bench/frame_time.py --method stcn [--set mem_every=5] [--sequence blackswan] [--frames 15]
        [--objects 1] [--threads 2] [--device cpu] [--checkpoint FILE | --training-free]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import vosbench  # noqa: E402,F401 - before torch: it sets OpenMP's wait policy
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

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


def build_method(name: str, settings: list[str], checkpoint: Path | None = None, training_free: bool = False,
                 device: str = "cpu"):
    """The registered method; without a checkpoint (and not training-free) on synthetic official-layout weights."""
    with tempfile.TemporaryDirectory() as scratch:
        if checkpoint is None and not training_free:
            from conformance import write_checkpoint

            checkpoint = write_checkpoint(name, Path(scratch) / "synthetic.pth")
        spec = registry.get(name)
        config = spec.resolve(registry.parse_settings(settings))
        return spec.factory(config, checkpoint=str(checkpoint) if checkpoint else None, device=device)


def load_sequence(data: Path, sequence: str, frames: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The first ``frames`` RGB frames of a DAVIS sequence and its first mask (one object)."""
    paths = sorted((data / "JPEGImages" / "480p" / sequence).glob("*.jpg"))[:frames]
    if not paths:
        raise SystemExit(f"no frames in {data / 'JPEGImages' / '480p' / sequence}: give --data a DAVIS 480p folder")
    images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    first = np.asarray(Image.open(data / "Annotations" / "480p" / sequence / f"{paths[0].stem}.png").convert("L"))
    return images, (first > 127).astype(np.uint8)


def split_objects(mask: np.ndarray, count: int) -> np.ndarray:
    """The object of a binary mask cut into ``count`` objects 1..count: vertical bands
    holding equal shares of its pixels."""
    columns = np.cumsum(mask.sum(axis=0))
    if columns[-1] < count:
        raise SystemExit(f"--objects {count}: the first mask has only {columns[-1]} object pixels")
    band = np.minimum(columns * count // (columns[-1] + 1), count - 1) + 1  # 1..count per column
    return (mask * band[None, :]).astype(np.uint8)


def video_info(name: str, count: int, mask: np.ndarray) -> VideoInfo:
    """A video of ``count`` frames with the objects of ``mask`` (ids 1..K), its size."""
    height, width = mask.shape
    ids = tuple(int(i) for i in np.unique(mask) if i)
    return VideoInfo(name, count, height, width, ObjectIds(ids), {i: 0 for i in ids})


def time_frames(method, frames: list[np.ndarray], mask: np.ndarray, name: str = "video",
                foreground: list[np.ndarray] | None = None) -> pd.DataFrame:
    """One row per frame: total and per-stage seconds, stored and matched memory, MiB.
    ``foreground``, when given, receives each frame's foreground probabilities [H, W]."""
    method.start(video_info(name, len(frames), mask))
    timer = StageTimer(method.device)
    method.clock = timer
    rows = []
    for t, frame in enumerate(frames):
        timer.frame.clear()
        start = time.perf_counter()
        probs = method.step(frame, mask if t == 0 else None, t == len(frames) - 1)
        if method.device.type == "cuda":
            torch.cuda.synchronize(method.device)
        total = time.perf_counter() - start
        if foreground is not None:
            foreground.append(probs[1].numpy())
        report = method.memory()
        rows.append({"frame": t, "total_s": total, **{f"{k}_s": timer.frame.get(k, 0.0) for k in STAGES},
                     "stored": report.per_object[0], "matched": (report.matched or report.per_object)[0],
                     "mib": report.nbytes / 2**20})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "davis2016-val")
    parser.add_argument("--sequence", default="blackswan")
    parser.add_argument("--frames", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--objects", type=int, default=1, help="cut the object into this many")
    parser.add_argument("--method", required=True, help="a registered method: stcn, swiftnet, swem, ...")
    parser.add_argument("--set", dest="settings", action="append", default=[], help="parameter as name=value")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--training-free", action="store_true", help="no weights: the method's training-free mode")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    method = build_method(args.method, args.settings, args.checkpoint, args.training_free, args.device)
    frames, mask = load_sequence(args.data, args.sequence, args.frames)
    if args.objects < 1:
        raise SystemExit(f"--objects {args.objects}: give 1 or more")
    mask = split_objects(mask, args.objects)
    table = time_frames(method, frames, mask, args.sequence)
    height, width = mask.shape
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    steady = table[table.frame > 0]
    weights = "training-free" if args.training_free else ("file" if args.checkpoint else "synthetic")
    print(f"{args.method} ({weights}) {args.sequence} {height}x{width}, {args.objects} object(s), {args.device}, {args.threads} threads: "
          f"median {steady.total_s.median():.3f} s per frame over frames 1..{len(frames) - 1}")

if __name__ == "__main__":
    main()
