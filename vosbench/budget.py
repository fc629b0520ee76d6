"""Memory and latency budgets of long videos, projected from a run's per-frame records.

For each method and sequence of a run, memory and step latency are fitted against the
frame index by least squares, ``value = a + b * frame``, on the *second half* of the fit
window (frames after the first quarter of a run are its steady state: a capped memory
that filled early fits flat, not by its ramp). Memory is the first column the run
measured of ``torch_allocated_bytes`` (what the process holds on a GPU), then
``memory_bytes`` (the method's memory bank alone, what a CPU run records). A fit is
"constant" when its growth over the window is under 0.5 % of its level or not two
standard errors from zero, else "linear in frames"; a constant or falling fit is
projected flat at its median.

Projections (stated assumptions, not measurements): the growth per frame scales with the
frame's pixels (stored feature maps are a fixed fraction of the frame), the intercept
and the object count stay as run; latency's constant part scales with pixels and its
growth with pixels squared (each query position reads every stored position); latency
is taken as flat where memory is (its growth comes from reading a growing memory). From
these: the frame at which memory would exceed each GPU budget (with the interval of the
slope +- 2 standard errors), and the step latency after 1, 10 and 60 minutes of 24 fps
video, at the run's size, 480p (480x854) and 1080p (1080x1920).

``check``: fit on the first ``fit_frames`` frames and compare the prediction with what
the run measured on the rest (the largest and the mean relative error of memory, the
median relative error of latency).

``objects``: growth in objects, fitted across a method's sequences where their object
counts differ. Each sequence's memory level (the projected intercept) and growth per
frame, per pixel of its frames, are fitted as ``shared + per_object * objects`` by least
squares (keys are stored once, values once per object); growth is "linear in objects"
where the per-object term is positive and two standard errors from zero. From it, the
frames at which memory would exceed each GPU budget with 1, 5 and 10 objects at 480p
and 1080p (pixels still scaled by the assumption above).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vosbench.atomic import atomic_file
from vosbench.errors import VosbenchError
from vosbench.run.tables import Run

MEMORY_COLUMNS = ("torch_allocated_bytes", "memory_bytes")
RESOLUTIONS = {"480p": (480, 854), "1080p": (1080, 1920)}
MINUTES = (1, 10, 60)
OBJECT_COUNTS = (1, 5, 10)
FPS = 24
GIB = 2**30


@dataclass(frozen=True)
class Fit:
    """``a + b * frame`` fitted on frames ``start`` .. ``stop - 1``, with the
    covariance of (a, b)."""

    a: float
    b: float
    cov: np.ndarray
    start: int
    stop: int
    median: float  # of the fitted values

    @classmethod
    def of(cls, frames: np.ndarray, values: np.ndarray) -> "Fit":
        steady = frames >= frames.min() + (frames.max() - frames.min()) / 2
        x, y = frames[steady].astype(np.float64), values[steady].astype(np.float64)
        if x.size < 3:
            raise VosbenchError(f"only {x.size} frame(s) to fit a growth on; run or keep more frames")
        design = np.stack([np.ones_like(x), x], axis=1)
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        residual = y - design @ coef
        variance = float(residual @ residual) / max(x.size - 2, 1)
        cov = variance * np.linalg.pinv(design.T @ design)
        return cls(float(coef[0]), float(coef[1]), cov, int(x.min()), int(x.max()) + 1, float(np.median(y)))

    def __call__(self, frame: np.ndarray | float) -> np.ndarray | float:
        return self.a + self.b * frame

    @property
    def slope_se(self) -> float:
        return math.sqrt(max(float(self.cov[1, 1]), 0.0))

    def trend(self, flat: bool = False) -> tuple[float, float]:
        """(a, b) to project with: a constant, shrinking (noise, over a long video) or
        ``flat`` fit projects its median, flat."""
        return (self.median, 0.0) if flat or self.b <= 0 or self.growth == "constant" else (self.a, self.b)

    @property
    def growth(self) -> str:
        level = abs(self(self.stop))
        if abs(self.b) * (self.stop - self.start) < 0.005 * level or abs(self.b) < 2 * self.slope_se:
            return "constant"
        return "linear in frames"


def memory_column(frames: pd.DataFrame) -> str:
    for column in MEMORY_COLUMNS:
        if column in frames and frames[column].notna().any():
            return column
    raise VosbenchError("the run measured no memory (run it with telemetry on)")


def frame_size(run: Run, method: str, sequence: str) -> tuple[int, int]:
    """(height, width) of the run's frames, from its first mask of the sequence."""
    folder = run.masks_dir(method, sequence)
    first = next(iter(sorted(folder.glob("*.png"))), None)
    if first is None:
        raise VosbenchError(f"{folder}: no masks to take the frame size from; the budget needs the run's masks")
    with Image.open(first) as image:
        return image.height, image.width


def exceed_frame(a: float, b: float, budget: float) -> float:
    """The first frame at which ``a + b * frame`` passes ``budget`` (inf when it never does)."""
    if a >= budget:
        return 0.0
    return math.inf if b <= 0 else math.ceil((budget - a) / b)


def project(run: Run, gpus_gib: tuple[float, ...] = (24, 80), fit_frames: int | None = None) -> pd.DataFrame:
    """One row per method x sequence: the fits and the projections (module docstring)."""
    frames = run.frames[~run.frames["warmup"]]
    if fit_frames is not None:
        frames = frames[frames["frame"] < fit_frames]
    column = memory_column(frames)
    rows = []
    for (method, sequence), group in frames.groupby(["method", "sequence"], sort=True):
        group = group.dropna(subset=[column, "step_ms"])
        x = group["frame"].to_numpy()
        memory, latency = Fit.of(x, group[column].to_numpy()), Fit.of(x, group["step_ms"].to_numpy())
        height, width = frame_size(run, method, sequence)
        row = {
            "method": method, "sequence": sequence, "size": f"{height}x{width}", "objects": int(group["objects"].max()),
            "memory_column": column, "memory_growth": memory.growth, "memory_a_bytes": memory.a,
            "memory_b_se": memory.slope_se,
        }
        (mem_a, mem_b), (lat_a, lat_b) = memory.trend(), latency.trend(flat=memory.growth == "constant")
        row |= {
            "memory_level_bytes": mem_a, "memory_b_bytes_per_frame": mem_b, "latency_growth": "constant" if lat_b == 0 else latency.growth,
            "latency_a_ms": lat_a, "latency_b_ms_per_frame": lat_b,
        }
        for name, (h, w) in {"run": (height, width), **RESOLUTIONS}.items():
            scale = (h * w) / (height * width)
            for gib in gpus_gib:
                b, se = mem_b * scale, memory.slope_se * scale
                budget = gib * GIB
                row[f"frames_to_{gib:g}GiB_{name}"] = exceed_frame(mem_a, b, budget)
                row[f"frames_to_{gib:g}GiB_{name}_low"] = exceed_frame(mem_a, b + 2 * se, budget)
                row[f"frames_to_{gib:g}GiB_{name}_high"] = exceed_frame(mem_a, max(b - 2 * se, 0.0), budget)
            for minutes in MINUTES:
                frame = minutes * 60 * FPS
                row[f"step_ms_{minutes}min_{name}"] = lat_a * scale + lat_b * scale * scale * frame
        rows.append(row)
    if not rows:
        raise VosbenchError(f"{run.root}: no measured frames to fit")
    return pd.DataFrame(rows)


def _per_object(objects: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """``values ~ shared + per_object * objects`` by least squares: (shared, per_object,
    the standard error of per_object; nan with no residual degree of freedom)."""
    design = np.stack([np.ones_like(objects), objects], axis=1)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    residual = values - design @ coef
    dof = len(values) - 2
    se = math.sqrt(max(float(residual @ residual) / dof * float(np.linalg.pinv(design.T @ design)[1, 1]), 0.0)) if dof > 0 else math.nan
    return float(coef[0]), float(coef[1]), se


def objects(table: pd.DataFrame, gpus_gib: tuple[float, ...] = (24, 80)) -> pd.DataFrame:
    """One row per method of ``project``'s table: its growth in objects across sequences
    (module docstring); a method whose sequences all have one object count gets none."""
    rows = []
    for method, group in table.groupby("method", sort=True):
        counts = group["objects"].to_numpy(np.float64)
        row = {"method": method, "sequences": len(group), "objects_seen": ",".join(str(k) for k in sorted(set(group["objects"])))}
        if len(set(counts)) < 2:
            rows.append(row | {"objects_growth": "objects not varied"})
            continue
        pixels = np.array([math.prod(int(v) for v in size.split("x")) for size in group["size"]], np.float64)
        level = _per_object(counts, group["memory_level_bytes"].to_numpy(np.float64) / pixels)
        growth = _per_object(counts, group["memory_b_bytes_per_frame"].to_numpy(np.float64) / pixels)
        significant = any(term > 0 and not term < 2 * se for _, term, se in (level, growth))
        row |= {
            "objects_growth": "linear in objects" if significant else "constant in objects",
            "level_shared_bytes_per_pixel": level[0], "level_per_object_bytes_per_pixel": level[1],
            "level_per_object_se": level[2],
            "growth_shared_bytes_per_pixel_frame": growth[0], "growth_per_object_bytes_per_pixel_frame": growth[1],
            "growth_per_object_se": growth[2],
        }
        for name, (h, w) in RESOLUTIONS.items():
            for count in OBJECT_COUNTS:
                a = h * w * (level[0] + level[1] * count)
                b = max(h * w * (growth[0] + growth[1] * count), 0.0)
                for gib in gpus_gib:
                    row[f"frames_to_{gib:g}GiB_{name}_{count}obj"] = exceed_frame(a, b, gib * GIB)
        rows.append(row)
    return pd.DataFrame(rows)


def check(run: Run, fit_frames: int) -> pd.DataFrame:
    """Fit on the frames before ``fit_frames``, predict the rest: relative errors per method x sequence."""
    column = memory_column(run.frames)
    rows = []
    for (method, sequence), group in run.frames[~run.frames["warmup"]].groupby(["method", "sequence"], sort=True):
        group = group.dropna(subset=[column, "step_ms"])
        fit, rest = group[group["frame"] < fit_frames], group[group["frame"] >= fit_frames]
        if rest.empty:
            raise VosbenchError(f"{run.root}: {method}/{sequence} has no frame from {fit_frames} on to check the fit against")
        x_fit, x_rest = fit["frame"].to_numpy(), rest["frame"].to_numpy()
        memory = Fit.of(x_fit, fit[column].to_numpy())
        latency = Fit.of(x_fit, fit["step_ms"].to_numpy())
        (mem_a, mem_b), (lat_a, lat_b) = memory.trend(), latency.trend(flat=memory.growth == "constant")
        measured = rest[column].to_numpy(dtype=np.float64)
        error = np.abs(mem_a + mem_b * x_rest - measured) / measured
        step = rest["step_ms"].to_numpy(dtype=np.float64)
        rows.append({
            "method": method, "sequence": sequence, "fit_frames": int(fit_frames), "checked_frames": int(len(rest)),
            "memory_column": column, "memory_growth": memory.growth,
            "memory_max_rel_error": float(error.max()), "memory_mean_rel_error": float(error.mean()),
            "latency_median_rel_error": float(np.median(np.abs(lat_a + lat_b * x_rest - step) / step)),
        })
    return pd.DataFrame(rows)


def write(table: pd.DataFrame, path: Path) -> Path:
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False)
    return path
