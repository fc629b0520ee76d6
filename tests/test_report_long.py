"""The report's over-frame figures on long runs: rolling medians for latency, log axes for
memory sizes that span decades."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vosbench.report import figures
from vosbench.report.style import palette


def _long_frames(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for label, stored in (("swem", np.full(n, 256)), ("stcn", 100 * (1 + np.arange(n) // 5))):
        parts.append(pd.DataFrame({
            "method": label, "sequence": "long", "frame": np.arange(n), "warmup": np.arange(n) < 1,
            "step_ms": 50 + rng.exponential(20, n), "objects": 2,
            "stored_features": pd.array(2 * stored, dtype="Int64"),
        }))
    return pd.concat(parts, ignore_index=True)


def test_long_latency_is_drawn_as_a_rolling_median_over_the_faint_frames():
    frames = _long_frames(1000)
    drawn = figures.latency_figure(frames, palette(["swem", "stcn"]))
    ax = drawn.axes[0]
    labelled = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert set(labelled) == {"swem", "stcn"} and len(ax.get_lines()) == 4
    own = frames[(frames["method"] == "swem") & ~frames["warmup"]]["step_ms"].to_numpy()
    window = 999 // 100 | 1
    assert labelled["swem"].get_ydata()[500] == pytest.approx(np.median(own[500 - window // 2 : 500 + window // 2 + 1]))
    assert f"rolling median over {window} frames" in ax.get_title(loc="left")
    # short runs keep one plain line per method
    short = figures.latency_figure(_long_frames(50), palette(["swem", "stcn"]))
    assert len(short.axes[0].get_lines()) == 2 and "rolling" not in short.axes[0].get_title(loc="left")


def test_memory_sizes_that_span_decades_go_on_log_axes():
    frames = _long_frames(3000)  # swem 256 per object, stcn up to 60,000
    ax = figures.stored_figure(frames, palette(["swem", "stcn"])).axes[0]
    assert ax.get_yscale() == "log" and "log scale" in ax.get_ylabel()
    ax = figures.stored_figure(_long_frames(20), palette(["swem", "stcn"])).axes[0]
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
