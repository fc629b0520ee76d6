"""Ablation tables of a sweep, built from its run directory read back (pure functions).

``ablation_table`` is the tidy table (``ablation.csv``): one row per setting with its
grid values as columns next to the run summary's figures for that label. ``display_tables``
lays it out as the SWEM paper's ablations do: with two grid axes a pivot (rows one axis,
columns the other, cells "J&F / FPS") followed by the long table; otherwise the long
table alone (a row per value for one axis, a row per setting for three or more).
Without any J&F (no ground truth, ``--no-eval``) the score columns are left out.
"""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from vosbench.report.table_formats import cell
from vosbench.run import Run
from vosbench.sweep.grid import value_text

SCORES = ["J&F-Mean", "J-Mean", "F-Mean"]
FIGURES = [
    "fps", "fps_io", "step_p50_ms", "step_p95_ms", "stored_features_max",
    "memory_max_bytes", "gpu_peak_bytes", "torch_peak_bytes", "rss_max_bytes",
]
# what the Markdown and LaTeX tables show: the process's RSS is left to the CSV (one
# process runs every setting, so it says little about any one of them)
SHOWN = [*SCORES, "fps", "fps_io", "step_p50_ms", "step_p95_ms", "stored_features_max", "memory_max_bytes", "gpu_peak_bytes"]
DIGITS = {"fps": 2, "fps_io": 2, "step_p50_ms": 1, "step_p95_ms": 1}


def has_scores(table: pd.DataFrame) -> bool:
    return "J&F-Mean" in table.columns and bool(table["J&F-Mean"].notna().any())


def ablation_table(run: Run, axes: Sequence[str]) -> pd.DataFrame:
    """One row per setting, in run order: ``label``, ``method`` (the registered name), a
    column per grid axis (null where a method lacks the parameter), ``sequences`` finished,
    then the summary's scores and speed, latency, stored-feature and memory figures."""
    summary = run.summary.set_index("method")
    rows = []
    for method in run.manifest["config"]["methods"]:
        label = method["label"]
        row: dict[str, Any] = {"label": label, "method": method["method"]}
        row.update({axis: _plain_value(method["settings"].get(axis)) if axis in method["settings"] else pd.NA for axis in axes})
        done = label in summary.index
        row["sequences"] = int(summary.loc[label, "sequences"]) if done else 0
        for column in [*SCORES, *FIGURES]:
            row[column] = summary.loc[label, column] if done else pd.NA
        rows.append(row)
    table = pd.DataFrame(rows, columns=["label", "method", *axes, "sequences", *SCORES, *FIGURES])
    types = {column: run.summary[column].dtype for column in [*SCORES, *FIGURES]}
    table = table.astype({"label": "str", "method": "str", "sequences": "int64", **types})
    for axis in axes:
        table[axis] = table[axis].convert_dtypes()
    if not has_scores(table):
        table = table.drop(columns=SCORES)
    return table


def _plain_value(value: Any) -> Any:
    # a tuple setting comes back from JSON as a list: show it as the label writes it
    return value_text(value) if isinstance(value, list) else value


def long_table(table: pd.DataFrame, axes: Sequence[str]) -> pd.DataFrame:
    """The rows to print: the method when several, the grid values, scores, speed,
    stored features and memory; columns null throughout (GPU fields on the CPU) left out."""
    columns = (["method"] if table["method"].nunique() > 1 else []) + list(axes)
    columns += [c for c in SHOWN if c in table.columns and table[c].notna().any()]
    return table[columns].reset_index(drop=True)


def pivot_table(table: pd.DataFrame, rows: str, columns: str) -> pd.DataFrame:
    """Rows one axis's values, columns the other's, cells ``J&F / FPS`` (``FPS`` alone
    without scores); with several methods the method leads each row."""
    several = table["method"].nunique() > 1
    scored = has_scores(table)
    cells: dict[tuple, dict[str, str]] = {}
    headers: list[str] = []
    for _, row in table.iterrows():
        key = (row["method"], _shown(row[rows])) if several else (_shown(row[rows]),)
        header = f"{columns}={_shown(row[columns])}"
        if header not in headers:
            headers.append(header)
        fps = cell(row["fps"], 1)
        cells.setdefault(key, {})[header] = f"{cell(row['J&F-Mean'], 3)} / {fps}" if scored else fps
    keys = ["method", rows] if several else [rows]
    records = [{**dict(zip(keys, key)), **{h: values.get(h, "") for h in headers}} for key, values in cells.items()]
    return pd.DataFrame(records, columns=[*keys, *headers])


def _shown(value: Any) -> str:
    return cell(value) if value is pd.NA or value is None else value_text(value)


def display_tables(table: pd.DataFrame, axes: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """(caption, table) pairs in the order the Markdown and LaTeX files show them."""
    scored = has_scores(table)
    what = "J&F / FPS" if scored else "FPS (no J&F: the run has no ground truth or was made with --no-eval)"
    tables = []
    if len(axes) == 2:
        tables.append((f"{what}; rows {axes[0]}, columns {axes[1]}", pivot_table(table, axes[0], axes[1])))
    speed = "FPS without and with I/O, step latency p50/p95 in ms, stored features at most, memory bytes at most"
    scores = "J&F, J and F means over sequence-objects; " if scored else "no J&F (no ground truth or --no-eval); "
    tables.append((f"every setting: {scores}{speed}", long_table(table, axes)))
    return tables
