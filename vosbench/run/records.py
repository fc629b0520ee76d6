"""Per-frame records: one tidy row per method x sequence x frame.

Latency columns are milliseconds: ``load_ms`` (reading the frame and its given mask),
one per stage (0 where the method skipped the stage on that frame), ``step_ms`` (the
whole step on the device clock: CUDA events on a GPU, the monotonic clock on the CPU),
``wall_ms`` (the step on the host clock) and ``write_ms`` (masks and probabilities).
Memory columns are bytes or feature-vector counts. A value that was not measured is
null (with telemetry off; GPU fields without a GPU or NVML), never a made-up number;
``J`` and ``F`` (mean over the frame's scored objects) are NaN on unscored frames.
A memory with tiers (XMem's, Cutie's) fills ``working_features``, ``long_term_features``,
``sensory_features``, ``permanent_features`` (the part of working memory never evicted)
and ``object_features`` (Cutie's object summaries), summed over objects, null for the
tiers a memory lacks, and names the step's consolidations and removals in
``memory_events`` (null when none).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from methods.base import STAGES
from vosbench.data.video import Video
from vosbench.telemetry import FrameMeasure

TIERS = ("working", "long_term", "sensory", "permanent", "object")
"""Memory tiers with a column of stored features (null for a memory without them)."""

COLUMNS: dict[str, str] = {
    "method": "str",
    "sequence": "str",
    "frame": "int64",
    "frame_name": "str",
    "warmup": "bool",
    "objects": "int64",
    "load_ms": "float64",
    **{f"{stage}_ms": "float64" for stage in STAGES},
    "step_ms": "float64",
    "wall_ms": "float64",
    "write_ms": "float64",
    "stored_features": "Int64",
    "stored_min": "Int64",
    "stored_max": "Int64",
    "matched_features": "Int64",
    "memory_bytes": "Int64",
    "rss_bytes": "Int64",
    "gpu_used_bytes": "Int64",
    "gpu_process_bytes": "Int64",
    "gpu_peak_bytes": "Int64",
    "torch_allocated_bytes": "Int64",
    "torch_reserved_bytes": "Int64",
    "torch_peak_bytes": "Int64",
    **{f"{tier}_features": "Int64" for tier in TIERS},
    "memory_events": "str",
    "J": "float64",
    "F": "float64",
}


def frame_row(label: str, video: Video, index: int, measure: FrameMeasure, write_ms: float, warmup: int) -> dict:
    """The record of frame ``index`` (J and F are joined later)."""
    info = video.info
    given = [i for i, object_id in enumerate(info.objects.ids) if info.first_frame.get(object_id, 0) <= index]
    stored = None if measure.stored is None else [measure.stored[i] for i in given]
    matched = None if measure.matched is None else [measure.matched[i] for i in given]
    return {
        "method": label,
        "sequence": info.name,
        "frame": index,
        "frame_name": video.frame_names[index],
        "warmup": index < warmup,
        "objects": len(given),
        "load_ms": measure.load_ms,
        **{f"{stage}_ms": measure.stages.get(stage) for stage in STAGES},
        "step_ms": measure.step_ms,
        "wall_ms": measure.wall_ms,
        "write_ms": write_ms,
        "stored_features": None if stored is None else sum(stored),
        "stored_min": min(stored) if stored else None,
        "stored_max": max(stored) if stored else None,
        "matched_features": None if matched is None else sum(matched),
        "memory_bytes": measure.memory_bytes,
        "rss_bytes": measure.rss_bytes,
        "gpu_used_bytes": measure.gpu_used_bytes,
        "gpu_process_bytes": measure.gpu_process_bytes,
        "gpu_peak_bytes": measure.gpu_peak_bytes,
        "torch_allocated_bytes": measure.torch_allocated_bytes,
        "torch_reserved_bytes": measure.torch_reserved_bytes,
        "torch_peak_bytes": measure.torch_peak_bytes,
        **{f"{tier}_features": (measure.tiers or {}).get(tier) for tier in TIERS},
        "memory_events": "; ".join(measure.events) or None,
        "J": np.nan,
        "F": np.nan,
    }


def frames_table(rows: list[dict]) -> pd.DataFrame:
    """Rows -> the typed table (an empty list gives the empty table with every column)."""
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return table.astype(COLUMNS)


def join_scores(frames: pd.DataFrame, per_frame: pd.DataFrame) -> pd.DataFrame:
    """Put each frame's J and F (mean over its scored objects) into the records.

    ``per_frame``: the evaluator's table (sequence, object, frame name, J, F).
    """
    means = per_frame.groupby("frame", sort=False)[["J", "F"]].mean()
    out = frames.copy()
    out["J"] = out["frame_name"].map(means["J"]).astype("float64")
    out["F"] = out["frame_name"].map(means["F"]).astype("float64")
    return out
