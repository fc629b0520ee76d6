"""Fixed features with no learned weights: colour and position on a grid.

Each grid cell (``stride`` x ``stride`` pixels) gets the vector

    gain * normalise([const, L, a, b, xy_weight * y, xy_weight * x])

with CIE Lab colour scaled to about [0, 1] (L / 100, a / 110, b / 110) and positions
in units of the frame height (so both axes weigh the same, centred on 0). Why this form:
the vectors lie on a sphere, so every similarity a memory policy uses ranks neighbours
alike: a dot product is the cosine, a squared distance is 2 - 2 cosine, and EM bases
see unit-norm features (low-dimensional, un-normalised colour made SWEM's EM collapse
onto the brightest direction). ``const`` sets how far apart colours are on the sphere
(a smaller constant spreads them wider), and ``gain`` sets the softmax temperature of a
dot-product read (a dense softmax over thousands of entries needs sharp weights).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LAB_SCALE = (100.0, 110.0, 110.0)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB [..., 3, H, W] in [0, 1] -> CIE Lab (D65), same shape."""
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    matrix = torch.tensor(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
        dtype=rgb.dtype,
        device=rgb.device,
    )
    xyz = torch.einsum("ij,...jhw->...ihw", matrix, linear)
    white = torch.tensor([0.95047, 1.0, 1.08883], dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    t = xyz / white
    f = torch.where(t > (6 / 29) ** 3, t.clamp_min(1e-12) ** (1 / 3), t / (3 * (6 / 29) ** 2) + 4 / 29)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_of(image: torch.Tensor) -> torch.Tensor:
    """RGB [3, H, W] in [0, 1] -> CIE Lab scaled to about [0, 1] per channel (L / 100, a and b / 110)."""
    scale = torch.tensor(LAB_SCALE, device=image.device).view(3, 1, 1)
    return rgb_to_lab(image.float()) / scale


def pool(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Mean over each stride x stride cell of [..., H, W] (edge cells: the pixels there)."""
    if stride == 1:
        return x
    shape = x.shape
    pooled = F.avg_pool2d(x.reshape(-1, 1, *shape[-2:]), stride, ceil_mode=True)
    return pooled.reshape(*shape[:-2], *pooled.shape[-2:])


def unpool(x: torch.Tensor, size: tuple[int, int], stride: int) -> torch.Tensor:
    """Bilinear upsampling of grid maps [..., h, w] back to pixels [..., H, W]."""
    if stride == 1:
        return x
    shape = x.shape
    h, w = shape[-2:]
    up = F.interpolate(x.reshape(-1, 1, h, w), size=(h * stride, w * stride), mode="bilinear", align_corners=False)
    return up[..., : size[0], : size[1]].reshape(*shape[:-2], *size)


class ColourPosition:
    """Frame [3, H, W] in [0, 1] -> keys [C, h, w] (C = 6, or ``rff`` with a kernel map)."""

    def __init__(
        self,
        stride: int = 8,
        xy_weight: float = 0.25,
        const: float = 0.3,
        gain: float = 16.0,
        rff: int = 0,
        sigma: float = 0.1,
        seed: int = 0,
    ):
        if stride < 1 or const <= 0 or gain <= 0 or xy_weight < 0 or rff < 0 or sigma <= 0:
            raise ValueError("stride >= 1, const > 0, gain > 0, xy_weight >= 0, rff >= 0 and sigma > 0 are required")
        self.stride = stride
        self.xy_weight = xy_weight
        self.const = const
        self.gain = gain
        self.projection = None
        if rff:
            # Random Fourier features (Rahimi & Recht): cos(W x + b) with W ~ N(0, 1 / sigma^2)
            # makes dot products approximate exp(-|x - y|^2 / (2 sigma^2)) on (Lab, xy), so
            # unlike colours become near-orthogonal. Fixed by the seed: nothing is learned.
            generator = torch.Generator().manual_seed(seed)
            self.projection = (
                torch.randn(rff, 5, generator=generator) / sigma,
                torch.rand(rff, 1, 1, generator=generator) * 2 * math.pi,
            )

    @property
    def channels(self) -> int:
        return 6 if self.projection is None else self.projection[0].shape[0]

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.keys(lab_of(image))

    def encode(self, image: torch.Tensor, lab: torch.Tensor) -> torch.Tensor:
        """Keys [C, h, w] of a frame given as RGB and as ``lab_of`` colours (uses the latter)."""
        return self.keys(lab)

    def keys(self, lab: torch.Tensor) -> torch.Tensor:
        """Keys [C, h, w] from the frame's scaled Lab colours [3, H, W] (``lab_of``)."""
        height, width = lab.shape[-2:]
        lab = pool(lab, self.stride)
        h, w = lab.shape[-2:]
        # cell centres, in units of the frame height, centred on the frame centre
        ys = ((torch.arange(h, device=lab.device) + 0.5) * self.stride - height / 2) / height
        xs = ((torch.arange(w, device=lab.device) + 0.5) * self.stride - width / 2) / height
        y, x = torch.meshgrid(ys, xs, indexing="ij")
        if self.projection is not None:
            weights, phase = (t.to(lab.device) for t in self.projection)
            point = torch.cat([lab, self.xy_weight * y[None], self.xy_weight * x[None]])
            feats = torch.cos(torch.einsum("dc,chw->dhw", weights, point) + phase)
        else:
            feats = torch.cat(
                [torch.full((1, h, w), self.const, device=lab.device), lab, self.xy_weight * y[None], self.xy_weight * x[None]]
            )
        return self.gain * F.normalize(feats, dim=0)


def guided_unpool(
    x: torch.Tensor, guide: torch.Tensor, size: tuple[int, int], stride: int, sigma: float, reach: int = 1
) -> torch.Tensor:
    """Edge-aware upsampling of grid maps [K, h, w] to pixels [K, H, W] (joint bilateral).

    Each pixel mixes the (2 reach + 1)^2 cells around its own, weighted by a Gaussian of
    its distance to each cell centre (half a cell wide, close to the bilinear tent; a
    wider one blurs the masks fed back into memory) times a Gaussian of the difference
    between its colour and the cell's mean colour (``guide``: [3, H, W] pixel colours,
    pooled here). Why: bilinear upsampling of a coarse grid blurs every object boundary
    over a cell; colour moves the boundary back to the image edge inside the cell.
    """
    height, width = size
    h, w = x.shape[-2:]
    cells = pool(guide, stride)
    ys = torch.arange(height, device=x.device)
    xs = torch.arange(width, device=x.device)
    # pixel positions in cell units, cell centres at integers
    u, v = (ys + 0.5) / stride - 0.5, (xs + 0.5) / stride - 0.5
    neighbours = []  # (rows, cols, spatial weight [H, W], squared colour distance [H, W])
    for di in range(-reach, reach + 1):
        rows = ys // stride + di
        row_ok = (rows >= 0) & (rows < h)
        rows = rows.clamp(0, h - 1)
        wy = torch.exp(-2.0 * (u - rows) ** 2) * row_ok
        for dj in range(-reach, reach + 1):
            cols = xs // stride + dj
            col_ok = (cols >= 0) & (cols < w)
            cols = cols.clamp(0, w - 1)
            wx = torch.exp(-2.0 * (v - cols) ** 2) * col_ok
            distance = ((cells[:, rows][:, :, cols] - guide) ** 2).sum(0)
            neighbours.append((rows, cols, wy[:, None] * wx[None, :], distance))
    # colour weights relative to the best-matching cell, so a pixel unlike every cell
    # around it (a highlight, a thin structure) falls back to the spatial weights
    # instead of underflowing to nothing
    nearest = torch.stack([n[3] for n in neighbours]).amin(0)
    total = torch.zeros(x.shape[0], height, width, dtype=x.dtype, device=x.device)
    norm = torch.zeros(height, width, dtype=x.dtype, device=x.device)
    for rows, cols, spatial, distance in neighbours:
        weight = spatial * torch.exp(-(distance - nearest) / (2 * sigma**2))
        total += weight * x[:, rows][:, :, cols]
        norm += weight
    return total / norm.clamp_min(1e-12)
