"""The report's figures: one function per figure, each a matplotlib ``Figure`` or ``Absent``.

A figure whose data was not measured (no ground truth, a CPU run, telemetry off) is not
drawn on empty axes: the function returns ``Absent`` with the sentence the report
prints in its place. Figures are made without pyplot (no global state) and take tidy
tables plus the report's colours (``style.palette``), so a method has one colour
throughout. The redundancy figures are ``vosbench.redundancy.figures``' own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vosbench.redundancy import figures as redundancy
from vosbench.report.inputs import RedundancyInput
from vosbench.report.strips import Strip
from vosbench.report.style import FONT_SIZE, tidy_axes

MIB = 2**20
WIDE = (8.0, 3.4)  # inches: two of these fit a laptop screen's height
LONG = 500  # frames: a noisy line longer than this is drawn as its rolling median
SPREAD = 100.0  # largest / smallest positive value above which a size is drawn on log axes


@dataclass(frozen=True)
class Absent:
    """A figure or table that is not drawn, and the one sentence that says why."""

    reason: str


def _labels(table: pd.DataFrame, colours: dict[str, str]) -> list[str]:
    """The labels present in ``table``, in the report's order."""
    present = set(table["method"])
    return [label for label in colours if label in present]


def _across_sequences(frames: pd.DataFrame, value: str) -> pd.DataFrame:
    """Per label and frame index: mean, quartiles and count of ``value`` over sequences."""
    data = frames[["method", "frame", value]].dropna()
    data = data.assign(**{value: data[value].astype("float64")})
    grouped = data.groupby(["method", "frame"], sort=True)[value]
    stats = pd.DataFrame({
        "mean": grouped.mean(),
        "q25": grouped.quantile(0.25),
        "q75": grouped.quantile(0.75),
        "count": grouped.size(),
    })
    return stats.reset_index()


def _lines(ax, stats: pd.DataFrame, colours: dict[str, str], smooth: bool = False) -> int | None:
    """One line per label (mean over sequences), its quartile band where several sequences count.

    With ``smooth``, a label with more than ``LONG`` frames is drawn faint frame by frame
    (its spikes stay visible) under its rolling median, which would otherwise be lost in
    the noise of thousands of frames; returns the median's window (None: not smoothed).
    """
    window = None
    for label in _labels(stats, colours):
        own = stats[stats["method"] == label]
        mean = own["mean"]
        if smooth and len(own) > LONG:
            window = max(window or 0, len(own) // 100 | 1)  # odd, so the median is centred
            ax.plot(own["frame"], mean, color=colours[label], linewidth=0.4, alpha=0.3)
            mean = mean.rolling(len(own) // 100 | 1, center=True, min_periods=1).median()
        ax.plot(own["frame"], mean, color=colours[label], linewidth=1.4, label=label)
        if (own["count"] > 1).any():
            ax.fill_between(own["frame"], own["q25"], own["q75"], color=colours[label], alpha=0.15, linewidth=0)
    return window


def _legend(ax) -> None:
    ax.legend(fontsize=FONT_SIZE, frameon=False, loc="best")


def _per_object(frames: pd.DataFrame) -> pd.DataFrame:
    """``frames`` with ``stored_per_object``: stored features over the objects given so far."""
    objects = frames["objects"].astype("float64").where(frames["objects"] > 0)
    return frames.assign(stored_per_object=frames["stored_features"].astype("float64") / objects)


def _sequences_note(frames: pd.DataFrame) -> str:
    counts = frames.groupby("method")["sequence"].nunique()
    if counts.nunique() == 1:
        n = int(counts.iloc[0])
        return f"mean over {n} sequence{'s' if n != 1 else ''}" + (", band: quartiles" if n > 1 else "")
    return "mean over each method's sequences, band: quartiles"


def _over_frames(
    data: pd.DataFrame,
    column: str,
    ylabel: str,
    title: str,
    colours: dict[str, str],
    from_zero: bool = False,
    smooth: bool = False,
    log_spread: bool = False,
) -> Figure:
    """``column`` against frame index, a line per method (mean over sequences, quartile band).

    ``smooth``: long lines as rolling medians (see ``_lines``); ``log_spread``: log axes
    when the values span more than ``SPREAD``, so a flat memory of hundreds of features
    stays readable beside one that grows to hundreds of thousands.
    """
    figure = Figure(figsize=WIDE, layout="constrained")
    ax = figure.subplots()
    tidy_axes(ax)
    stats = _across_sequences(data, column)
    window = _lines(ax, stats, colours, smooth)
    if window is not None:
        title += f"\nlines: rolling median over {window} frames; faint: every frame"
    ax.set_xlabel("frame index", fontsize=FONT_SIZE)
    positive = stats["mean"][stats["mean"] > 0]
    if log_spread and len(positive) and positive.max() > SPREAD * positive.min():
        ax.set_yscale("log")
        ylabel += " (log scale)"
    elif from_zero:
        ax.set_ylim(bottom=0)
    ax.set_ylabel(ylabel, fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=9, loc="left")
    _legend(ax)
    return figure


def latency_figure(frames: pd.DataFrame, colours: dict[str, str]) -> Figure | Absent:
    """Per-frame latency (the method's step) against frame index, as SWEM's Fig. 6."""
    timed = frames[~frames["warmup"].astype(bool)]
    if timed["step_ms"].notna().sum() == 0:
        return Absent("Per-frame latency: no timed frame (every frame is a warm-up frame); run longer sequences or --warmup 0.")
    title = f"Per-frame latency ({_sequences_note(timed)}; warm-up frames left out)"
    return _over_frames(timed, "step_ms", "step latency (ms)", title, colours, from_zero=True, smooth=True)


def stored_figure(frames: pd.DataFrame, colours: dict[str, str]) -> Figure | Absent:
    """Stored feature vectors per object against frame index: how each memory grows."""
    data = _per_object(frames)
    if data["stored_per_object"].notna().sum() == 0:
        return Absent("Stored features: not measured (the runs were made with --no-telemetry).")
    title = f"Memory size ({_sequences_note(data)})"
    return _over_frames(data, "stored_per_object", "stored features per object", title, colours, from_zero=True,
                        log_spread=True)


GPU_SOURCES = {
    "torch_peak_bytes": "GPU memory: torch allocator peak during the step (MiB)",
    "gpu_process_bytes": "GPU memory: the process, NVML (MiB)",
    "gpu_used_bytes": "GPU memory: device in use, NVML (MiB)",
}


def gpu_memory_figure(frames: pd.DataFrame, colours: dict[str, str], reason: str) -> Figure | Absent:
    """GPU memory against frame index from the best field measured; ``reason`` says why
    there is none (the runs' manifests give it, e.g. a CPU run)."""
    source = next((column for column in GPU_SOURCES if frames[column].notna().any()), None)
    if source is None:
        return Absent(f"GPU memory: not measured ({reason}).")
    data = frames.assign(mib=frames[source].astype("float64") / MIB)
    return _over_frames(data, "mib", "MiB", f"{GPU_SOURCES[source]} ({_sequences_note(data)})", colours)


def tradeoff_figure(points: pd.DataFrame, colours: dict[str, str]) -> Figure | Absent:
    """FPS against J&F, bubble area = stored features per object, as SWEM's Fig. 7.

    ``points``: method, fps, J&F-Mean, stored_per_object (NaN where not measured).
    """
    points = points.dropna(subset=["fps", "J&F-Mean"])
    if points.empty:
        return Absent("Speed against accuracy: no method has both FPS and J&F (the runs have no ground-truth scores).")
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = figure.subplots()
    tidy_axes(ax)
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    sized = points["stored_per_object"].dropna()
    scale = 1600.0 / float(sized.max()) if len(sized) and sized.max() > 0 else 0.0
    for _, row in points.iterrows():
        colour = colours[row["method"]]
        if pd.isna(row["stored_per_object"]):
            ax.scatter(row["fps"], row["J&F-Mean"], s=40, marker="x", color=colour)
        else:
            ax.scatter(row["fps"], row["J&F-Mean"], s=max(row["stored_per_object"] * scale, 12), color=colour,
                       alpha=0.55, edgecolor=colour, linewidth=1.2)
        ax.annotate(row["method"], (row["fps"], row["J&F-Mean"]), xytext=(0, 0), textcoords="offset points",
                    ha="center", va="center", fontsize=FONT_SIZE, color="#222222")
    _pad(ax, points["fps"], "x")
    _pad(ax, points["J&F-Mean"], "y")
    if scale > 0:
        for value in _round_sizes(float(sized.max())):
            ax.scatter([], [], s=value * scale, color="#bbbbbb", alpha=0.6, label=f"{value:,.0f}")
        ax.legend(title="stored features per object", title_fontsize=FONT_SIZE, fontsize=FONT_SIZE, frameon=False,
                  loc="center left", bbox_to_anchor=(1.0, 0.5), labelspacing=2.0, borderpad=1.2)
    ax.set_xlabel("frames per second (step only, warm-up left out)", fontsize=FONT_SIZE)
    ax.set_ylabel("J&F", fontsize=FONT_SIZE)
    ax.set_title("Speed against accuracy; bubble area: stored features per object", fontsize=9, loc="left")
    return figure


def _pad(ax, values: pd.Series, axis: str) -> None:
    """Room around the bubbles: a fifth of the spread (or of the value, for one point)."""
    lo, hi = float(values.min()), float(values.max())
    pad = (hi - lo) * 0.25 if hi > lo else max(abs(hi) * 0.2, 0.05)
    (ax.set_xlim if axis == "x" else ax.set_ylim)(lo - pad, hi + pad)


def _round_sizes(largest: float) -> list[float]:
    """Two or three round reference sizes up to ``largest`` for the bubble legend."""
    top = float(10 ** np.floor(np.log10(largest)))
    top = max(m * top for m in (1, 2, 5) if m * top <= largest)
    return sorted({top, top / 4} if top / 4 >= 1 else {top})


def sequence_scores_figure(scores: pd.DataFrame, colours: dict[str, str]) -> Figure | Absent:
    """J&F per sequence, a bar per method: where each method wins or fails."""
    scores = scores.dropna(subset=["J&F-Mean"])
    if scores.empty:
        return Absent("J&F per sequence: no sequence was scored (the runs have no ground-truth scores).")
    labels = _labels(scores, colours)
    sequences = list(dict.fromkeys(scores["sequence"]))
    height = 0.8 / len(labels)
    figure = Figure(figsize=(8.0, 1.0 + 0.22 * len(sequences) * max(len(labels), 2) / 2), layout="constrained")
    ax = figure.subplots()
    tidy_axes(ax)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    rows = {name: i for i, name in enumerate(sequences)}
    for k, label in enumerate(labels):
        own = scores[scores["method"] == label]
        y = np.array([rows[s] for s in own["sequence"]]) - 0.4 + height * (k + 0.5)
        ax.barh(y, own["J&F-Mean"], height=height * 0.92, color=colours[label], label=label)
    ax.set_yticks(range(len(sequences)), sequences, fontsize=FONT_SIZE)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("J&F", fontsize=FONT_SIZE)
    ax.set_title("J&F per sequence", fontsize=9, loc="left")
    ax.legend(fontsize=FONT_SIZE, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure


def accuracy_over_time_figure(frames: pd.DataFrame, colours: dict[str, str], bins: int = 10) -> Figure | Absent:
    """J and memory size against the position in the video: does compression cost accuracy late?

    Frames are placed by their share of the video (0 first, 1 last) and averaged in
    ``bins`` equal bins, so sequences of different lengths line up.
    """
    data = _per_object(frames)
    if data["J"].notna().sum() == 0:
        return Absent("J over time: no frame was scored (the runs have no ground-truth scores).")
    # no more bins than the shortest sequence has frames, so no bin is left empty
    bins = max(1, min(bins, int(data.groupby(["method", "sequence"]).size().min())))
    last = data.groupby(["method", "sequence"])["frame"].transform("max").astype("float64")
    position = data["frame"] / last.where(last > 0, 1.0)
    data = data.assign(bin=np.minimum((position * bins).astype(int), bins - 1))
    centres = (np.arange(bins) + 0.5) / bins
    figure = Figure(figsize=(8.0, 4.6), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(1.3, 1))
    for ax in (top, bottom):
        tidy_axes(ax)
    has_memory = data["stored_per_object"].notna().any()
    for label in _labels(data, colours):
        own = data[data["method"] == label]
        j = own.dropna(subset=["J"]).groupby("bin")["J"].mean().reindex(range(bins))
        top.plot(centres, j.to_numpy(), color=colours[label], marker="o", markersize=3, linewidth=1.4, label=label)
        if has_memory:
            stored = own.groupby("bin")["stored_per_object"].mean().reindex(range(bins))
            bottom.plot(centres, stored.to_numpy(), color=colours[label], marker="o", markersize=3, linewidth=1.4)
    top.set_ylabel("J (mean over scored frames)", fontsize=FONT_SIZE)
    top.set_ylim(0, 1)
    top.set_title(f"J and memory size through the video (frames in {bins} bins by position)", fontsize=9, loc="left")
    _legend(top)
    if has_memory:
        bottom.set_ylabel("stored features per object", fontsize=FONT_SIZE)
        bottom.set_ylim(bottom=0)
    else:
        bottom.text(0.5, 0.5, "memory size not measured (--no-telemetry)", transform=bottom.transAxes, ha="center",
                    fontsize=FONT_SIZE, color="#777777")
        bottom.set_yticks([])
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("position in the video (0 = first frame, 1 = last)", fontsize=FONT_SIZE)
    return figure


def strip_figure(strip: Strip, colours: dict[str, str], dpi: float) -> Figure:
    """A sequence's qualitative strip: a row per method (and the ground truth), a column
    per chosen frame; drawn at the mosaic's own pixel size at ``dpi``."""
    height, width = strip.mosaic.shape[:2]
    margin_left, margin_top = 1.3, 0.3  # inches for row and column labels
    figure = Figure(figsize=(width / dpi + margin_left + 0.1, height / dpi + margin_top + 0.05), dpi=dpi)
    fw, fh = figure.get_size_inches()
    ax = figure.add_axes((margin_left / fw, 0.05 / fh, width / dpi / fw, height / dpi / fh))
    ax.imshow(strip.mosaic, interpolation="nearest")
    ax.set_xticks(strip.column_centres, [f"frame {i}" for i in strip.columns], fontsize=FONT_SIZE)
    ax.xaxis.tick_top()
    ax.set_yticks(strip.row_centres, strip.rows, fontsize=FONT_SIZE)
    for tick, label in zip(ax.get_yticklabels(), strip.rows):
        tick.set_color(colours.get(label, "#222222"))
        tick.set_fontweight("bold")
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    return figure


def redundancy_figures(red: RedundancyInput) -> dict[str, Figure | Absent]:
    """The redundancy folder's figures (SWEM's Figs. 2 and 4, SwiftNet's variation, a
    periodic bank over time), each absent where its analysis did not run."""
    analyses = set(red.histograms["analysis"].astype(str))
    skipped = "; ".join(sorted({n for n in red.sequences.get("note", pd.Series(dtype=str)) if n})) or "no counts"
    figures: dict[str, Figure | Absent] = {}
    if analyses & {"inter", "intra", "inter_em", "intra_em"}:
        figures["redundancy"] = redundancy.redundancy_figure(red.histograms)
    else:
        figures["redundancy"] = Absent("Inter- and intra-frame redundancy: no counts in this folder.")
    if analyses & {"matching_fixed", "matching_adaptive"}:
        figures["matching"] = redundancy.matching_figure(red.histograms)
    else:
        figures["matching"] = Absent(f"Matching similarity: not analysed ({skipped}).")
    if "varied_fraction" in red.frames and red.frames["varied_fraction"].notna().any():
        figures["variation"] = redundancy.variation_figure(red.frames, (red.manifest.get("analysis") or {}).get("p_th"))
    else:
        figures["variation"] = Absent(f"SwiftNet's variation: not analysed ({skipped}).")
    if "bank_written" in red.frames and red.frames["bank_written"].astype(bool).any():
        figures["bank"] = redundancy.bank_figure(red.frames)
    else:
        figures["bank"] = Absent("Periodic bank redundancy: no frame was written to the bank.")
    return figures
