"""The sweep's trade-off figure: FPS against J&F, a point per setting (no pyplot state).

Points are labelled with their grid values and coloured per run label (the report's
palette: a hue per method, shades for its settings); a line joins the settings that
differ only along the first axis. Without J&F the figure says so and shows FPS per
setting instead of empty axes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vosbench.report.style import FONT_SIZE, palette, tidy_axes
from vosbench.sweep.tables import has_scores
from vosbench.sweep.grid import value_text

GREY = "#8a8a8a"


def _point_text(row: pd.Series, axes: Sequence[str], with_method: bool = False) -> str:
    values = ", ".join(value_text(row[axis]) for axis in axes if not pd.isna(row[axis]))
    if with_method or not values:
        return f"{row['method']}: {values}" if values else row["method"]
    return values


def tradeoff_figure(table: pd.DataFrame, axes: Sequence[str]) -> Figure:
    """From ``ablation_table``: J&F (y) against FPS (x), or FPS per setting without J&F."""
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = figure.subplots()
    tidy_axes(ax)
    colours = palette(table["label"].tolist())
    hues = palette(list(dict.fromkeys(table["method"])))
    if has_scores(table):
        _tradeoff(ax, table, axes, colours, hues)
    else:
        _speed_only(ax, table, axes, colours)
    return figure


def _tradeoff(ax, table: pd.DataFrame, axes: Sequence[str], colours: dict, hues: dict) -> None:
    drawn = table[table["fps"].notna() & table["J&F-Mean"].notna()]
    if drawn.empty:
        ax.text(0.5, 0.5, "no setting has both FPS and J&F yet", transform=ax.transAxes, ha="center", color=GREY)
        ax.set_axis_off()
        return
    others = [axis for axis in axes[1:] if axis in drawn.columns]
    # settings equal but for the first axis, in grid order: one line each
    keys = drawn[["method", *others]].astype(str).agg("|".join, axis=1)
    for _, group in drawn.groupby(keys, sort=False):
        if len(group) > 1:
            ax.plot(group["fps"], group["J&F-Mean"], color=hues[group["method"].iloc[0]], alpha=0.5, linewidth=1, zorder=1)
    for _, row in drawn.iterrows():
        ax.scatter(row["fps"], row["J&F-Mean"], s=36, color=colours[row["label"]], edgecolor="white", linewidth=0.6, zorder=2)
        ax.annotate(_point_text(row, axes), (row["fps"], row["J&F-Mean"]), xytext=(4, 4), textcoords="offset points",
                    fontsize=FONT_SIZE - 1)
    if len(hues) > 1:
        for method, hue in hues.items():
            ax.scatter([], [], s=36, color=hue, label=method)
        ax.legend(fontsize=FONT_SIZE, frameon=False, loc="best")
    ax.margins(x=0.15, y=0.12)  # room for the point labels
    ax.set_xlabel("FPS (method step, warm-up frames left out)", fontsize=FONT_SIZE)
    ax.set_ylabel("J&F", fontsize=FONT_SIZE)
    lines = f"; lines join settings along {axes[0]}" if len(drawn) > 1 else ""
    ax.set_title(f"J&F against FPS per setting\npoints labelled {', '.join(axes)}{lines}", fontsize=FONT_SIZE + 1,
                 loc="left")
    missing = len(table) - len(drawn)
    if missing:
        ax.text(0.99, 0.01, f"{missing} setting(s) without FPS or J&F not shown", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=FONT_SIZE - 1, color=GREY)


def _speed_only(ax, table: pd.DataFrame, axes: Sequence[str], colours: dict) -> None:
    title = "no J&F: the run has no ground truth or was made with --no-eval"
    fps = table["fps"].to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(fps).any():
        ax.text(0.5, 0.5, f"{title}\nand no setting has an FPS figure yet", transform=ax.transAxes, ha="center",
                color=GREY, fontsize=FONT_SIZE + 1)
        ax.set_axis_off()
        return
    positions = np.arange(len(table))
    ax.barh(positions, np.nan_to_num(fps), color=[colours[label] for label in table["label"]])
    several = table["method"].nunique() > 1
    ax.set_yticks(positions, [_point_text(row, axes, several) for _, row in table.iterrows()], fontsize=FONT_SIZE - 1)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    ax.set_xlabel("FPS (method step, warm-up frames left out)", fontsize=FONT_SIZE)
    ax.set_ylabel(", ".join(axes), fontsize=FONT_SIZE)
    ax.set_title(f"FPS per setting\n{title}", fontsize=FONT_SIZE + 1, loc="left")
