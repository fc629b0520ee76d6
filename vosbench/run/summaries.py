"""Per-sequence and per-method summaries of the frame records (pure functions).

Speed figures leave warm-up frames out. ``fps`` counts the method's step only;
``fps_io`` adds reading the frame and writing its outputs. Peaks are maxima of the
per-frame readings (null without a GPU). J&F is averaged over sequence-objects, as the
evaluator's global row is: each object's J-Mean and F-Mean, then the mean over objects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PEAKS = {
    "gpu_peak_bytes": "gpu_peak_bytes",
    "gpu_process_max_bytes": "gpu_process_bytes",
    "torch_peak_bytes": "torch_peak_bytes",
    "rss_max_bytes": "rss_bytes",
    "memory_max_bytes": "memory_bytes",
}
SEQUENCE_COLUMNS = [
    "method", "sequence", "frames", "warmup_frames", "objects", "fps", "fps_io", "step_p50_ms", "step_p95_ms",
    *PEAKS, "stored_features_end", "stored_features_max", "J&F-Mean", "J-Mean", "F-Mean", "scored_objects",
]
SUMMARY_COLUMNS = [
    "method", "sequences", "frames", "fps", "fps_io", "step_p50_ms", "step_p95_ms",
    *PEAKS, "stored_features_max", "J&F-Mean", "J-Mean", "F-Mean", "scored_objects",
]


def _speed(frames: pd.DataFrame) -> dict[str, float]:
    timed = frames[~frames["warmup"]]
    step = timed["step_ms"].to_numpy(dtype=np.float64)
    io = (timed["load_ms"] + timed["step_ms"] + timed["write_ms"]).to_numpy(dtype=np.float64)
    return {
        "fps": len(step) / (step.sum() / 1000) if len(step) and step.sum() > 0 else np.nan,
        "fps_io": len(io) / (io.sum() / 1000) if len(io) and io.sum() > 0 else np.nan,
        "step_p50_ms": float(np.percentile(step, 50)) if len(step) else np.nan,
        "step_p95_ms": float(np.percentile(step, 95)) if len(step) else np.nan,
    }


def _peaks(frames: pd.DataFrame) -> dict[str, object]:
    return {name: frames[column].max() if frames[column].notna().any() else pd.NA for name, column in PEAKS.items()}


def _scores(objects: pd.DataFrame) -> dict[str, float]:
    if objects.empty:
        return {"J&F-Mean": np.nan, "J-Mean": np.nan, "F-Mean": np.nan, "scored_objects": 0}
    j = float(np.mean(objects["J-Mean"].to_numpy(dtype=np.float64)))
    f = float(np.mean(objects["F-Mean"].to_numpy(dtype=np.float64)))
    return {"J&F-Mean": (j + f) / 2.0, "J-Mean": j, "F-Mean": f, "scored_objects": len(objects)}


def _stored(values: pd.Series, how: str):
    values = values.dropna()
    if values.empty:
        return pd.NA
    return values.iloc[-1] if how == "end" else values.max()


def sequence_table(frames: pd.DataFrame, objects: pd.DataFrame) -> pd.DataFrame:
    """One row per method x sequence."""
    rows = []
    for (method, sequence), group in frames.groupby(["method", "sequence"], sort=False):
        scored = objects[(objects["method"] == method) & (objects["sequence"] == sequence)]
        rows.append(
            {
                "method": method,
                "sequence": sequence,
                "frames": len(group),
                "warmup_frames": int(group["warmup"].sum()),
                "objects": int(group["objects"].max()),
                **_speed(group),
                **_peaks(group),
                "stored_features_end": _stored(group["stored_features"], "end"),
                "stored_features_max": _stored(group["stored_features"], "max"),
                **_scores(scored),
            }
        )
    return _typed(pd.DataFrame(rows, columns=SEQUENCE_COLUMNS))


def summary_table(frames: pd.DataFrame, objects: pd.DataFrame) -> pd.DataFrame:
    """One row per method, over all its sequences."""
    rows = []
    for method, group in frames.groupby("method", sort=False):
        rows.append(
            {
                "method": method,
                "sequences": group["sequence"].nunique(),
                "frames": len(group),
                **_speed(group),
                **_peaks(group),
                "stored_features_max": _stored(group["stored_features"], "max"),
                **_scores(objects[objects["method"] == method]),
            }
        )
    return _typed(pd.DataFrame(rows, columns=SUMMARY_COLUMNS))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    types: dict[str, str] = {}
    for column in table.columns:
        if column in ("method", "sequence"):
            types[column] = "str"
        elif column.endswith("_bytes") or column.startswith("stored_features"):
            types[column] = "Int64"  # null where nothing was measured
        elif column in ("frames", "warmup_frames", "objects", "sequences", "scored_objects"):
            types[column] = "int64"
        else:
            types[column] = "float64"
    return table.astype(types)
