"""FLOPs per frame and stage of a method, and the throughput this machine can reach.

FLOPs are torch's own count (``torch.utils.flop_counter.FlopCounterMode``: 2 per
multiply-add of convolutions, matmuls and attention). The references are measured in the
same process and run: the best GFLOP/s of a ResNet-like 3x3 convolution stack over a few
480p feature-map shapes (both memory formats, so oneDNN's best path counts), and of a
large single-precision matmul. A method's achieved GFLOP/s divided by them says how
much of the machine it uses.

    python bench/flops.py [--device cpu] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import defaultdict

import numpy as np
import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

# (channels, height, width): ResNet stages on a 480x864 frame (strides 4, 8, 16, 32)
CONV_SHAPES = ((64, 120, 216), (128, 60, 108), (256, 30, 54), (512, 15, 27))
MATMUL_SIZE = 2048


def count_cpu_attention() -> None:
    """torch's FLOP counter has no formula for the CPU kernel of scaled_dot_product_attention
    (SAM 2's Hiera and memory attention, the official code's too), so it counted nothing
    there: give it the CUDA kernels' formula."""
    from torch.utils import flop_counter

    op = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    if op not in flop_counter.flop_registry:
        flop_counter.register_flop_formula(op, get_raw=True)(flop_counter.sdpa_flop)  # already shape-wrapped


count_cpu_attention()


class FlopClock:
    """A clock for ``Method.clock`` that attributes the counter's FLOPs to the stage running."""

    def __init__(self, counter: FlopCounterMode):
        self.counter = counter
        self.frame: dict[str, int] = defaultdict(int)

    @contextlib.contextmanager
    def stage(self, name: str):
        before = self.counter.get_total_flops()
        yield
        self.frame[name] += self.counter.get_total_flops() - before


def count_frames(method, info, frames: list[np.ndarray], mask: np.ndarray, stages: tuple[str, ...]) -> pd.DataFrame:
    """One row per frame: total FLOPs and FLOPs per stage, the video (``info``) run afresh under the counter."""
    method.start(info)
    rows = []
    with FlopCounterMode(display=False) as counter:
        clock = FlopClock(counter)
        method.clock = clock
        for t, frame in enumerate(frames):
            clock.frame.clear()
            before = counter.get_total_flops()
            method.step(frame, mask if t == 0 else None, t == len(frames) - 1)
            rows.append({"frame": t, "total": counter.get_total_flops() - before,
                         **{stage: clock.frame.get(stage, 0) for stage in stages}})
    return pd.DataFrame(rows)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(run, device: torch.device, repeats: int) -> float:
    """Best wall time of ``run()`` over ``repeats`` after one warm-up call."""
    run()
    _synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        _synchronize(device)
        best = min(best, time.perf_counter() - began)
    return best


def flops_of(run) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def conv_reference(device: str = "cpu", repeats: int = 3, layers: int = 4) -> pd.DataFrame:
    """GFLOP/s of ``layers`` 3x3 convolutions (+ReLU) per feature-map shape and memory format."""
    device = torch.device(device)
    rows = []
    with torch.inference_mode():
        for channels, height, width in CONV_SHAPES:
            stack = torch.nn.Sequential(*[m for _ in range(layers) for m in
                                          (torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                           torch.nn.ReLU(inplace=True))]).to(device).eval()
            x = torch.randn(1, channels, height, width, device=device)
            flops = flops_of(lambda: stack(x))
            for fmt in (torch.contiguous_format, torch.channels_last):
                net, inp = stack.to(memory_format=fmt), x.contiguous(memory_format=fmt)
                seconds = best_seconds(lambda: net(inp), device, repeats)
                rows.append({"shape": f"{channels}x{height}x{width}", "format": str(fmt).split(".")[-1],
                             "gflop": flops / 1e9, "seconds": seconds, "gflops": flops / seconds / 1e9})
    return pd.DataFrame(rows)


def matmul_reference(device: str = "cpu", repeats: int = 3, size: int = MATMUL_SIZE) -> float:
    """GFLOP/s of one ``size`` x ``size`` float32 matmul (2 n^3 FLOPs)."""
    device = torch.device(device)
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    with torch.inference_mode():
        seconds = best_seconds(lambda: a @ b, device, repeats)
    return 2 * size**3 / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    conv = conv_reference(args.device, args.repeats)
    print(conv.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"convolution reference (best): {conv.gflops.max():.1f} GFLOP/s; "
          f"matmul {MATMUL_SIZE}^2: {matmul_reference(args.device, args.repeats):.1f} GFLOP/s "
          f"({args.device}, {args.threads} threads)")


if __name__ == "__main__":
    main()
