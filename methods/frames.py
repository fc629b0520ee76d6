"""Frame tensors for the networks: uint8 to float, ImageNet normalisation, resizing,
padding to a stride and the crop that undoes it.

Each official pipeline orders these steps its own way (STCN normalises, then pads with
0; SwiftNet pads first; SWEM resizes the [0, 1] image and normalises inside its
encoders), so they are separate small functions and each method composes them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vosbench.data.video import VideoInfo
from vosbench.errors import VosbenchError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Box = tuple[int, int, int, int]
"""(top, bottom, left, right) row and column bounds of the original inside a padded map."""


def to_tensor(frame: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """RGB uint8 [H, W, 3] -> float32 [1, 3, H, W] in [0, 1] on ``device``."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise VosbenchError(f"a frame must be RGB uint8 [H, W, 3], got {frame.dtype} {frame.shape}")
    image = torch.from_numpy(np.require(frame, requirements=["C", "W"])).to(device)
    # division by 255 (not multiplication by 1/255) matches torchvision's ToTensor bit for bit
    return image.permute(2, 0, 1).unsqueeze(0).float().div(255)


def normalise(image: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """(x - mean) / std per channel of [B, 3, H, W] (division, as torchvision's Normalize)."""
    mean_t = torch.tensor(mean, dtype=image.dtype, device=image.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=image.dtype, device=image.device).view(1, -1, 1, 1)
    return (image - mean_t) / std_t


def pad_to_multiple(x: torch.Tensor, multiple: int = 16, value: float = 0.0) -> tuple[torch.Tensor, Box]:
    """Pad the last two dims of ``x`` up to multiples of ``multiple``.

    The extra rows (columns) are split as STM does: floor(extra / 2) on top (left), the
    rest at the bottom (right). Returns the padded tensor and the box to crop back.
    """
    h, w = x.shape[-2:]
    extra_h, extra_w = -h % multiple, -w % multiple
    top, left = extra_h // 2, extra_w // 2
    box = (top, top + h, left, left + w)
    if extra_h or extra_w:
        x = F.pad(x, (left, extra_w - left, top, extra_h - top), value=value)
    return x, box


def crop(x: torch.Tensor, box: Box) -> torch.Tensor:
    """The part of ``x`` (last two dims) inside ``box``; undoes ``pad_to_multiple``."""
    top, bottom, left, right = box
    return x[..., top:bottom, left:right]


def resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize [B, C, H, W] like the official scripts: PyTorch interpolation,
    align_corners=False for the smooth modes and no antialiasing (as torchvision's
    tensor Resize did when the methods were released)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode=mode, align_corners=False)


def short_side_size(height: int, width: int, short: int) -> tuple[int, int]:
    """(h, w) with the short side ``short`` and the long side scaled and truncated,
    as torchvision's ``Resize(short)`` computes it."""
    if height <= width:
        return short, int(short * width / height)
    return int(short * height / width), short


def parse_size(value: object, name: str = "input_size") -> tuple[int, int] | None:
    """A size parameter as (height, width): None, a pair, or text "HxW" / "H,W" ("none":
    None, as a ``--set`` string gives it)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if isinstance(value, str):
        parts = value.lower().replace("x", ",").split(",")
    elif isinstance(value, (tuple, list)):
        parts = list(value)
    else:
        parts = [value]
    try:
        size = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        size = ()
    if len(size) != 2 or min(size) <= 0:
        raise VosbenchError(f"parameter {name}: expected HEIGHTxWIDTH (e.g. 480x864), got {value!r}")
    return size  # type: ignore[return-value]



MIN_GRID = 2
"""Key-grid cells a side below which a memory read has nothing to tell apart (one cell:
every position of the frame reads the same memory)."""


def check_grid(info: VideoInfo, size: tuple[int, int], stride: int, method: str, finer: str = "") -> None:
    """Refuse a video whose frames (fed at ``size``) give fewer than ``MIN_GRID`` key-grid
    cells a side at ``stride``: it would run, and score near zero, for no reason a user
    could see. ``finer`` names a setting that makes the grid finer."""
    cells = (-(-size[0] // stride), -(-size[1] // stride))
    if min(cells) < MIN_GRID:
        hint = f", or {finer}" if finer else ""
        raise VosbenchError(
            f"{info.name}: frames of {info.height}x{info.width} give {method} a key grid of {cells[0]}x{cells[1]} "
            f"cells (stride {stride}); it needs at least {MIN_GRID} a side, frames of {MIN_GRID * stride} pixels: "
            f"upsample the frames{hint}"
        )
