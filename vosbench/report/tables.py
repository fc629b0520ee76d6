"""The report's tables, as tidy DataFrames (one row per method label, or per setting).

Accuracy follows the evaluator's global row: each statistic is the mean over
sequence-objects, J&F the mean of J-Mean and F-Mean. Efficiency comes from the run's own
summaries (``vosbench.run.summaries``), so a report and ``summary.csv`` never disagree.
"""

from __future__ import annotations

import pandas as pd

from vosbench.eval.evaluate import GLOBAL_COLUMNS
from vosbench.report.inputs import Inputs, dataset_name
from vosbench.run.summaries import sequence_table, summary_table

MIB = 2**20
# Peak GPU memory, best source first: torch's allocator peak (reset every frame), the
# NVML peak sampled between frames, the process's NVML reading.
GPU_PEAKS = {
    "torch_peak_bytes": "torch allocator peak",
    "gpu_peak_bytes": "NVML device peak",
    "gpu_process_max_bytes": "NVML process memory",
}
ACCURACY_COLUMNS = ["method", "sequences", "objects", *GLOBAL_COLUMNS]
EFFICIENCY_COLUMNS = [
    "method", "sequences", "frames", "fps", "fps_io", "step_p50_ms", "step_p95_ms", "gpu_peak_mib",
    "stored_features_end", "stored_features_max",
]
DIGITS = {"fps": 1, "fps_io": 1, "step_p50_ms": 1, "step_p95_ms": 1, "gpu_peak_mib": 0, "stored_features_end": 0}


def accuracy_table(inputs: Inputs) -> pd.DataFrame:
    """J&F, J and F mean, recall and decay per label; only labels with scored objects."""
    rows = []
    for label in inputs.labels:
        scored = inputs.objects[inputs.objects["method"] == label]
        if scored.empty:
            continue
        means = {column: float(scored[column].mean()) for column in GLOBAL_COLUMNS[1:]}
        rows.append({
            "method": label,
            "sequences": scored["sequence"].nunique(),
            "objects": len(scored),
            "J&F-Mean": (means["J-Mean"] + means["F-Mean"]) / 2.0,
            **means,
        })
    return pd.DataFrame(rows, columns=ACCURACY_COLUMNS).astype({"sequences": "int64", "objects": "int64"})


def gpu_peak_source(inputs: Inputs) -> str | None:
    """The column of the best GPU peak that any label measured, or None (no GPU readings)."""
    summary = summary_table(inputs.frames, inputs.objects)
    return next((column for column in GPU_PEAKS if summary[column].notna().any()), None)


def efficiency_table(inputs: Inputs) -> pd.DataFrame:
    """Speed, latency, peak GPU memory and stored features per label (warm-up frames out of
    the speed figures; stored features at the end averaged over sequences)."""
    summary = summary_table(inputs.frames, inputs.objects).set_index("method")
    per_sequence = sequence_table(inputs.frames, inputs.objects)
    source = gpu_peak_source(inputs)
    rows = []
    for label in inputs.labels:
        if label not in summary.index:
            continue
        row = summary.loc[label]
        ends = per_sequence.loc[per_sequence["method"] == label, "stored_features_end"].dropna()
        peak = row[source] if source else pd.NA
        rows.append({
            "method": label,
            "sequences": int(row["sequences"]),
            "frames": int(row["frames"]),
            "fps": row["fps"],
            "fps_io": row["fps_io"],
            "step_p50_ms": row["step_p50_ms"],
            "step_p95_ms": row["step_p95_ms"],
            "gpu_peak_mib": float(peak) / MIB if not pd.isna(peak) else float("nan"),
            "stored_features_end": float(ends.astype("float64").mean()) if len(ends) else float("nan"),
            "stored_features_max": row["stored_features_max"],
        })
    return pd.DataFrame(rows, columns=EFFICIENCY_COLUMNS).astype({"stored_features_max": "Int64"})


def sequence_scores(inputs: Inputs) -> pd.DataFrame:
    """Per label x sequence: J&F-Mean, J-Mean, F-Mean, fps (the run's sequences table)."""
    table = sequence_table(inputs.frames, inputs.objects)
    return table[["method", "sequence", "J&F-Mean", "J-Mean", "F-Mean", "fps", "stored_features_max"]]


def settings_table(inputs: Inputs) -> pd.DataFrame:
    """Tidy: one row per label x parameter, with the run, the method and its checkpoint."""
    rows = []
    for run in inputs.runs:
        checkpoints = run.manifest.get("checkpoints") or {}
        for method in run.manifest["config"]["methods"]:
            label = method["label"]
            if label not in run.labels:
                continue
            checkpoint = checkpoints.get(label) or "training-free"
            for parameter, value in method["settings"].items():
                rows.append({
                    "method": run.labels[label], "run": run.name, "name": method["method"], "checkpoint": checkpoint,
                    "parameter": parameter, "value": "–" if value is None else str(value),
                })
    return pd.DataFrame(rows, columns=["method", "run", "name", "checkpoint", "parameter", "value"])


def settings_grid(settings: pd.DataFrame, labels: tuple[str, ...]) -> pd.DataFrame:
    """The settings for reading: a row per parameter, a column per label (blank where a
    method has no such parameter); the method's checkpoint first."""
    if settings.empty:
        return pd.DataFrame(columns=["parameter"])
    present = [label for label in labels if label in set(settings["method"])]
    checkpoints = settings.drop_duplicates("method").set_index("method")["checkpoint"]
    grid = settings.pivot(index="parameter", columns="method", values="value")
    order = list(dict.fromkeys(settings["parameter"]))
    grid = grid.reindex(index=order, columns=present).fillna("")
    head = pd.DataFrame([checkpoints.reindex(present).to_list()], index=["checkpoint"], columns=present)
    return pd.concat([head, grid]).rename_axis("parameter").reset_index()


def environment_table(inputs: Inputs) -> pd.DataFrame:
    """One row per run: where and how it ran (its latest session's environment)."""
    rows = []
    for run in inputs.runs:
        manifest = run.manifest
        config = manifest["config"]
        session = (manifest.get("sessions") or [{}])[-1]
        env = session.get("environment") or {}
        cpu = env.get("cpu") or {}
        cuda = env.get("cuda") or {}
        gpus = ", ".join(d.get("name", "?") for d in cuda.get("devices") or []) or "none"
        git = env.get("git") or {}
        commit = (git.get("commit") or "")[:10] + (" (dirty)" if git.get("dirty") else "") if git else "–"
        rows.append({
            "run": run.name,
            "dataset": dataset_name(manifest.get("dataset")),
            "sequences": int(run.run.frames["sequence"].nunique()),
            "device": config.get("device"),
            "dtype": config.get("dtype"),
            "torch": (env.get("packages") or {}).get("torch"),
            "python": env.get("python"),
            "cpu": f"{cpu.get('model', '?')} ({cpu.get('usable_cores', '?')} cores, {cpu.get('torch_threads', '?')} threads)",
            "gpu": gpus,
            "commit": commit,
            "started": session.get("started"),
        })
    return pd.DataFrame(rows)


def tradeoff_points(inputs: Inputs) -> pd.DataFrame:
    """Per label: fps, J&F-Mean and stored features per object (each sequence's largest
    count over its objects given so far, averaged over sequences) for the bubble figure."""
    accuracy = accuracy_table(inputs).set_index("method")["J&F-Mean"]
    efficiency = efficiency_table(inputs).set_index("method")["fps"]
    frames = inputs.frames
    per_object = frames["stored_features"].astype("float64") / frames["objects"].astype("float64").where(frames["objects"] > 0)
    peaks = frames.assign(per_object=per_object).groupby(["method", "sequence"])["per_object"].max()
    stored = peaks.groupby(level="method").mean()
    rows = [
        {
            "method": label,
            "fps": efficiency.get(label, float("nan")),
            "J&F-Mean": accuracy.get(label, float("nan")),
            "stored_per_object": stored.get(label, float("nan")),
        }
        for label in inputs.labels
    ]
    return pd.DataFrame(rows, columns=["method", "fps", "J&F-Mean", "stored_per_object"])


def budget_table(inputs: Inputs) -> pd.DataFrame:
    """Per method and sequence: memory growth and the long-video projections (vosbench.budget)."""
    from vosbench.budget import project

    columns = {
        "memory_growth": "memory growth", "memory_b_bytes_per_frame": "bytes/frame",
        "frames_to_24GiB_1080p": "frames to 24 GiB (1080p)", "frames_to_80GiB_1080p": "frames to 80 GiB (1080p)",
        "step_ms_60min_1080p": "ms/frame after 60 min (1080p)",
    }
    parts = []
    for run in inputs.runs:
        table = project(run.run, (24, 80))
        parts.append(table.assign(method=table["method"].map(run.labels))[["method", "sequence", *columns]])
    return pd.concat(parts, ignore_index=True).rename(columns=columns)
