"""Figures in the style of the SWEM paper, drawn from the redundancy tables alone.

Every function takes the DataFrames ``vosbench redundancy`` writes (any subset of their
rows: one sequence, a few, all) and returns a matplotlib ``Figure``; nothing here reads
a run. ``write_figures`` saves them as PNG and PDF. Figures are made without pyplot,
so no global backend or state is touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vosbench.atomic import atomic_file
from vosbench.redundancy.summary import ALL, HEADLINES, summarise

BLUE, ORANGE, GREY, RED = "#3b6ea8", "#d9822b", "#8a8a8a", "#b03a2e"
TITLES = {
    "inter": "inter-frame: max similarity to frame t-1",
    "intra": "intra-frame: all pairs within a frame",
    "inter_em": "inter-frame with EM bases: max to t-1's bases",
    "intra_em": "intra-frame with EM bases: pairs of bases",
    "matching_fixed": "fixed weights",
    "matching_adaptive": "adaptive weights",
}
THRESHOLDS = {h.analysis: h for h in HEADLINES}


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)


def shares(histograms: pd.DataFrame, analysis: str) -> pd.DataFrame:
    """One analysis's counts pooled over the rows given, as shares of every bin (bin_lo,
    bin_hi, count, share; the bins the table leaves out as zeros). Empty without counts."""
    part = histograms[histograms["analysis"] == analysis]
    if part.empty:
        return pd.DataFrame(columns=["bin_lo", "bin_hi", "count", "share"])
    bins = round(2 / float((part["bin_hi"] - part["bin_lo"]).iloc[0]))
    edges = np.linspace(-1.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, part["bin_lo"].to_numpy() + 1e-9) - 1, 0, bins - 1)
    counts = np.bincount(index, weights=part["count"].to_numpy(), minlength=bins)
    total = counts.sum()
    return pd.DataFrame({"bin_lo": edges[:-1], "bin_hi": edges[1:], "count": counts.astype(np.int64), "share": counts / total})


def _fraction(histograms: pd.DataFrame, analysis: str) -> float:
    summary = summarise(histograms.assign(sequence=ALL))
    row = summary[(summary["sequence"] == ALL) & (summary["analysis"] == analysis)]
    return float(row["fraction"].iloc[0]) if len(row) else float("nan")


def _bars(ax, table: pd.DataFrame, colour: str, label: str | None = None, alpha: float = 0.9) -> None:
    ax.bar(table["bin_lo"], table["share"], width=table["bin_hi"] - table["bin_lo"], align="edge",
           color=colour, alpha=alpha, linewidth=0, label=label)


def _mark(ax, threshold: float, text: str) -> None:
    ax.axvline(threshold, color=RED, linestyle="--", linewidth=1)
    # top left: cosines below -0.5 are rare in every analysis, so the corner stays clear
    ax.text(0.02, 0.96, text, transform=ax.transAxes, ha="left", va="top", fontsize=8, color=RED,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})


def redundancy_figure(histograms: pd.DataFrame) -> Figure:
    """SWEM's Fig. 2: inter- and intra-frame similarity, without and with EM bases."""
    figure = Figure(figsize=(9, 6.2), layout="constrained")
    axes = figure.subplots(2, 2, sharex=True)
    for ax, analysis, letter in zip(axes.flat, ("inter", "intra", "inter_em", "intra_em"), "abcd"):
        _style(ax)
        table = shares(histograms, analysis)
        ax.set_title(f"({letter}) {TITLES[analysis]}", fontsize=9, loc="left")
        if table.empty:
            ax.text(0.5, 0.5, "no counts", transform=ax.transAxes, ha="center", color=GREY)
            continue
        headline = THRESHOLDS[analysis]
        above = table["bin_lo"] >= headline.threshold - 1e-12
        _bars(ax, table[~above], BLUE)
        _bars(ax, table[above], ORANGE)
        text = f"{_fraction(histograms, analysis):.1%} at or above {headline.threshold:g}"
        if headline.paper is not None:
            text += f"\nSWEM paper: {headline.paper_note.split(' (')[0]}"
        _mark(ax, headline.threshold, text)
        ax.set_xlim(-1, 1)
        ax.set_ylabel("share of counts", fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("cosine similarity", fontsize=8)
    return figure


def matching_figure(histograms: pd.DataFrame) -> Figure:
    """SWEM's Fig. 4: matching similarity to the previous bases, fixed vs adaptive weights."""
    figure = Figure(figsize=(6.2, 3.6), layout="constrained")
    ax = figure.subplots()
    _style(ax)
    threshold = THRESHOLDS["matching_fixed"].threshold
    drawn = False
    for analysis, colour in (("matching_fixed", ORANGE), ("matching_adaptive", BLUE)):
        table = shares(histograms, analysis)
        if table.empty:
            continue
        drawn = True
        edges = np.append(table["bin_lo"].to_numpy(), table["bin_hi"].iloc[-1])
        label = (f"{TITLES[analysis]}: {_fraction(histograms, analysis):.1%} at or above {threshold:g} "
                 f"(paper {THRESHOLDS[analysis].paper:.1%})")
        ax.stairs(table["share"], edges, fill=True, color=colour, alpha=0.25)
        ax.stairs(table["share"], edges, color=colour, linewidth=1.4, label=label)
    if not drawn:
        ax.text(0.5, 0.5, "no counts (the matching analysis needs masks on every frame)", transform=ax.transAxes,
                ha="center", color=GREY, fontsize=8)
    else:
        ax.axvline(threshold, color=RED, linestyle="--", linewidth=1)
        ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.set_xlim(-1, 1)
    ax.set_xlabel("max cosine similarity to the bases fitted up to the previous frame", fontsize=8)
    ax.set_ylabel("share of counts", fontsize=8)
    ax.set_title("matching similarity to the previous SWEM bases", fontsize=9, loc="left")
    return figure


def variation_figure(frames: pd.DataFrame, p_th: float | None = None) -> Figure:
    """SwiftNet's variation: varied share per frame (trigger firings marked) and trigger rate per sequence."""
    figure = Figure(figsize=(9, 3.8), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=(2.2, 1))
    for ax in (left, right):
        _style(ax)
    data = frames.dropna(subset=["varied_fraction"])
    if data.empty:
        left.text(0.5, 0.5, "no variation statistics (they need masks on every frame)", transform=left.transAxes,
                  ha="center", color=GREY, fontsize=8)
        return figure
    for _, sequence in data.groupby("sequence", sort=False, observed=True):
        left.plot(sequence["frame"], sequence["varied_fraction"], color=BLUE, alpha=0.35, linewidth=0.9)
    fired = frames[frames["triggered"].fillna(False).astype(bool) & (frames["frame"] > 0)]
    fired = fired.dropna(subset=["varied_fraction"])
    left.scatter(fired["frame"], fired["varied_fraction"], s=9, color=ORANGE, zorder=3, label="trigger fires")
    if p_th is not None:
        left.axhline(p_th, color=RED, linestyle="--", linewidth=1, label=f"p_th = {p_th:g}")
    left.set_xlabel("frame", fontsize=8)
    left.set_ylabel("share of positions varied\n(colour and mask) since the last memorised frame", fontsize=8)
    left.set_title("(a) temporal variation per frame", fontsize=9, loc="left")
    left.legend(fontsize=8, frameon=False)
    rate = frames.groupby("sequence", sort=False, observed=True)["triggered"].apply(lambda t: t.fillna(False).astype(bool).mean())
    rate = rate.dropna()
    right.barh(np.arange(len(rate)), rate.to_numpy(), color=BLUE, height=0.7)
    right.set_yticks(np.arange(len(rate)), rate.index.astype(str), fontsize=max(4, min(8, 160 // max(len(rate), 1))))
    right.invert_yaxis()
    right.set_xlabel("share of frames memorised", fontsize=8)
    right.set_title("(b) trigger rate", fontsize=9, loc="left")
    right.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    return figure


def bank_figure(frames: pd.DataFrame, threshold: float = 0.9) -> Figure:
    """Redundancy inside a growing periodic bank, inside XMem's long-term memory fed on
    the same schedule and, where the method keeps one, inside its object memory: the
    share of stored features (prototypes, summaries) with a near duplicate."""
    figure = Figure(figsize=(6.2, 3.6), layout="constrained")
    ax = figure.subplots()
    _style(ax)
    shown = []
    memories = (
        ("bank_written", "bank_share", BLUE, "periodic bank"),
        ("long_term_changed", "long_term_share", RED, "XMem long-term memory"),
        ("object_written", "object_share", ORANGE, "object memory (summaries of the same object)"),
    )
    for changed, share, colour, label in memories:
        if share not in frames or frames[share].isna().all():
            continue
        written = frames[frames[changed].fillna(False).astype(bool)]
        if written.empty:
            continue
        for _, sequence in written.groupby("sequence", sort=False, observed=True):
            ax.step(sequence["frame"], sequence[share], where="post", color=colour, alpha=0.3, linewidth=0.8)
        # the mean over sequences of each sequence's latest state, from its first change
        held = frames[frames[share.replace("share", "stored")].fillna(0) > 0]
        latest = held.pivot_table(index="frame", columns="sequence", values=share, observed=True)
        ax.plot(latest.index, latest.mean(axis=1), color=colour, linewidth=2, label=f"{label}, mean over sequences")
        shown.append(held[share])
    if shown:
        ax.legend(fontsize=8, frameon=False, loc="best")
    low = float(pd.concat(shown).min()) if shown else 0.0
    ax.set_ylim(max(0.0, np.floor(low * 10) / 10 - 0.1), 1.01)  # shares cluster near 1: show their spread
    ax.set_xlabel("frame", fontsize=8)
    ax.set_ylabel(f"share of stored features whose nearest\nother stored feature has cosine >= {threshold:g}", fontsize=8)
    ax.set_title("redundancy inside the memories over time", fontsize=9, loc="left")
    return figure


def write_figures(folder: str | Path, histograms: pd.DataFrame, frames: pd.DataFrame, p_th: float | None = None) -> list[Path]:
    """Save every figure as PNG (200 dpi) and PDF into ``folder``; returns the files."""
    folder = Path(folder)
    figures = {
        "redundancy": redundancy_figure(histograms),
        "matching": matching_figure(histograms),
        "variation": variation_figure(frames, p_th),
        "bank": bank_figure(frames),
    }
    written = []
    for name, figure in figures.items():
        for suffix in (".png", ".pdf"):
            path = folder / f"{name}{suffix}"
            with atomic_file(path) as tmp:
                figure.savefig(tmp, format=suffix[1:], dpi=200)
            written.append(path)
    return written
