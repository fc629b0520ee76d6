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


def make_lvos(root: Path, split: str, videos: dict[str, dict[int, tuple[int, int]]], length: int = 41,
              gone: dict[int, range] | None = None) -> Path:
    """LVOS ``<split>``: ``videos``: name -> {object id: (start, end) frame numbers}.

    Frames are numbered 1..``length`` (8 digits); every 5th from 1 is annotated with
    the objects whose range holds it, except object k in the frames of ``gone[k]``
    (an object that vanishes and comes back). The test split annotates only starts.
    """
    gone = gone or {}
    meta: dict = {"videos": {}}
    for video, ranges in videos.items():
        for t in range(1, length + 1):
            write_frame(root / split / "JPEGImages" / video / f"{t:08d}.jpg", t)
            present = [k for k, (a, b) in ranges.items() if a <= t <= b and t not in gone.get(k, ())]
            starts = [k for k, (a, _) in ranges.items() if a == t]
            if (t - 1) % 5 == 0 and (starts if split == "test" else True):
                write_mask(root / split / "Annotations" / video / f"{t:08d}.png", objects_mask(present))
        meta["videos"][video] = {
            "objects": {str(k): {"frame_range": {"start": a, "end": b, "frame_nums": (b - a) // 5 + 1}} for k, (a, b) in ranges.items()}
        }
    (root / split / f"{split}_meta.json").write_text(json.dumps(meta))
    return root


def make_flat(folder: Path, videos: dict[str, tuple[int, list[int]]], annotated: int = 1, digits: int = 5) -> Path:
    """MOSE or Long-Time Video under ``folder``: name -> (frame count, object ids); every
    ``annotated``-th frame from 0 has its annotation (MOSE valid: only frame 0)."""
    for name, (count, ids) in videos.items():
        for t in range(count):
            write_frame(folder / "JPEGImages" / name / f"{t:0{digits}d}.jpg", t)
            if t % annotated == 0:
                write_mask(folder / "Annotations" / name / f"{t:0{digits}d}.png", objects_mask(ids))
    return folder


def make_sav(root: Path, split: str, videos: dict[str, dict[int, int]], length: int = 17) -> Path:
    """SA-V ``sav_<split>``: name -> {object folder number: first annotated frame};
    frames 0..length-1 at 24 fps, each object's binary masks every 4th frame from its first."""
    folder = root / f"sav_{split}"
    for video, objects in videos.items():
        for t in range(length):
            write_frame(folder / "JPEGImages_24fps" / video / f"{t:05d}.jpg", t)
        for number, first in objects.items():
            for t in range(first, length, 4):
                write_mask(folder / "Annotations_6fps" / video / f"{number:03d}" / f"{t:05d}.png", objects_mask([number + 1]) != 0)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"sav_{split}.txt").write_text("".join(f"{v}\n" for v in videos))
    return root
