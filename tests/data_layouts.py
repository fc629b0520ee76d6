"""Tiny DAVIS 2017 and YouTube-VOS layouts written by the data tests themselves.

Frames are 32x48 solid colours (the colour encodes the frame number, so a test can tell
which frame it read); object k is a block whose place depends on k.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from vosbench.masks import write_mask

H, W = 32, 48


def colour(number: int) -> tuple[int, int, int]:
    return ((40 * number) % 256, (90 + 7 * number) % 256, 200)


def write_frame(path: Path, number: int, size: tuple[int, int] = (H, W)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.zeros((*size, 3), dtype=np.uint8)
    rgb[:] = colour(number)
    Image.fromarray(rgb).save(path, quality=95)


def objects_mask(ids: list[int], size: tuple[int, int] = (H, W)) -> np.ndarray:
    """A mask where object k fills a 6x6 block at a place set by k."""
    mask = np.zeros(size, dtype=np.uint8)
    for k in ids:
        row, col = (3 * k) % (size[0] - 6), (5 * k) % (size[1] - 6)
        mask[row : row + 6, col : col + 6] = k
    return mask


def make_davis2017(root: Path, sequences: dict[str, tuple[int, list[int]]], resolution: str = "480p",
                   size: tuple[int, int] = (H, W)) -> Path:
    """``sequences``: name -> (frame count, object ids); every frame annotated."""
    for name, (count, ids) in sequences.items():
        for t in range(count):
            write_frame(root / "JPEGImages" / resolution / name / f"{t:05d}.jpg", t, size)
            write_mask(root / "Annotations" / resolution / name / f"{t:05d}.png", objects_mask(ids, size))
    split = root / "ImageSets" / "2017" / "val.txt"
    split.parent.mkdir(parents=True, exist_ok=True)
    split.write_text("".join(f"{name}\n" for name in sequences))
    return root


def make_youtube(root: Path, split: str, videos: dict[str, dict[int, int]], length: int = 26, stride: int = 5,
                 all_frames: bool = False, gt: bool = False) -> Path:
    """``videos``: name -> {object id: first frame number}.

    ``<split>`` gets every ``stride``-th frame of ``length``; ``all_frames`` adds
    ``<split>_all_frames`` with all of them. Valid-like splits annotate only the frames
    where objects first appear (with just those objects); ``train`` annotates every
    listed frame; ``gt`` writes ``<split>_gt`` with every listed frame.
    """
    meta: dict = {"videos": {}}
    numbers = range(0, length, stride)
    for video, first in videos.items():
        for t in range(length):
            if t in numbers:
                write_frame(root / split / "JPEGImages" / video / f"{t:05d}.jpg", t)
            if all_frames:
                write_frame(root / f"{split}_all_frames" / "JPEGImages" / video / f"{t:05d}.jpg", t)
        for t in numbers:
            present = [k for k, start in first.items() if start <= t]
            new = [k for k, start in first.items() if start == t]
            name = f"{t:05d}.png"
            if split == "train" and present:
                write_mask(root / split / "Annotations" / video / name, objects_mask(present))
            elif split != "train" and new:
                write_mask(root / split / "Annotations" / video / name, objects_mask(new))
            if gt:
                write_mask(root / f"{split}_gt" / "Annotations" / video / name, objects_mask(present))
        meta["videos"][video] = {
            "objects": {
                str(k): {"category": "thing", "frames": [f"{t:05d}" for t in numbers if t >= start]}
                for k, start in first.items()
            }
        }
    (root / split / "meta.json").write_text(json.dumps(meta))
    return root
