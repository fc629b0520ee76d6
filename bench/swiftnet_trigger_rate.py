"""How often SwiftNet's variation-aware trigger memorises, against the periodic release.

The paper leaves the trigger's P_th unstated. This script replays DAVIS 2016 val with
its ground-truth masks (standing in for the network's soft masks) through the
pixel-adaptive memory in both modes and reports, per P_th, how many frames each video
memorises; ``p_th``'s default is the value whose total is closest to the periodic
release's (mem_every=5). Keys and values are dummies: only the schedule is measured.

    python bench/swiftnet_trigger_rate.py [--data ../shared/data/davis2016-val] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from methods.memory.pixel_adaptive import PixelAdaptiveMemory  # noqa: E402
from methods.frames import pad_to_multiple  # noqa: E402
from methods.swiftnet.network import STRIDE  # noqa: E402
from vosbench.atomic import atomic_file  # noqa: E402


def grid_sequence(root: Path, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames [T, 3, N] and masks [T, 1, N] of one DAVIS 2016 sequence, averaged per key-grid cell."""
    frames = sorted((root / "JPEGImages" / "480p" / name).glob("*.jpg"))
    images, masks = [], []
    for path in frames:
        image = torch.tensor(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1).float() / 255
        mask = np.asarray(Image.open(root / "Annotations" / "480p" / name / f"{path.stem}.png").convert("L")) > 127
        images.append(F.avg_pool2d(pad_to_multiple(image[None], STRIDE)[0], STRIDE).flatten(2)[0])
        masks.append(F.avg_pool2d(pad_to_multiple(torch.from_numpy(mask).float()[None, None], STRIDE)[0], STRIDE).flatten(1))
    return torch.stack(images), torch.stack(masks)


def memorised_frames(policy: PixelAdaptiveMemory, images: torch.Tensor, masks: torch.Tensor) -> list[int]:
    """Frames the policy memorises over a video, driven as a method drives it."""
    policy.reset(masks.shape[1])
    dummy = torch.zeros(masks.shape[1], 1, masks.shape[-1])
    for t in range(len(images)):
        policy.observe(t, images[t], masks[t])
        if policy.wants(t, t == len(images) - 1):
            policy.write(t, dummy, dummy, masks[t])
    policy.finish()
    return list(policy.memorised)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "davis2016-val")
    parser.add_argument("--th-f", type=float, default=0.1)
    parser.add_argument("--th-m", type=float, default=0.5)
    parser.add_argument("--p-th", type=float, nargs="+", default=[0.01, 0.02, 0.025, 0.03, 0.05])
    parser.add_argument("--csv", type=Path, help="write the tidy per-video table here")
    args = parser.parse_args()

    names = (args.data / "ImageSets" / "2016" / "val.txt").read_text().split()
    rows = []
    for name in names:
        images, masks = grid_sequence(args.data, name)
        periodic = memorised_frames(PixelAdaptiveMemory(mem_every=5), images, masks)
        rows.append({"sequence": name, "frames": len(images), "trigger": "periodic", "p_th": np.nan,
                     "memorised": len(periodic)})
        for p_th in args.p_th:
            policy = PixelAdaptiveMemory(trigger="variation", th_f=args.th_f, th_m=args.th_m, p_th=p_th)
            rows.append({"sequence": name, "frames": len(images), "trigger": "variation", "p_th": p_th,
                         "memorised": len(memorised_frames(policy, images, masks))})
    table = pd.DataFrame(rows)
    if args.csv:
        with atomic_file(args.csv) as tmp:
            table.to_csv(tmp, index=False)
    summary = (
        table.groupby(["trigger", "p_th"], dropna=False)
        .agg(memorised=("memorised", "sum"), frames=("frames", "sum"), videos_memorising_once=("memorised", lambda m: int((m == 1).sum())))
        .assign(frames_per_memorised=lambda d: d.frames / d.memorised)
    )
    print(f"DAVIS 2016 val, ground-truth masks, th_f={args.th_f}, th_m={args.th_m}")
    print(summary.to_string())


if __name__ == "__main__":
    main()
