"""The headline fractions: the share of counts at or above each analysis's threshold.

A fraction is the counts in bins whose lower edge is at or above the threshold over all
counts, pooled (every position or pair weighs the same): per sequence and over all
sequences (sequence "all"). Thresholds and the SWEM paper's figures (DAVIS 2017 val,
STM's encoder, 256 bases; Figs. 2 and 4) are those the issue quotes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

ALL = "all"


@dataclass(frozen=True)
class Headline:
    analysis: str
    threshold: float
    paper: float | None  # the SWEM paper's fraction, None where it gives none
    paper_note: str = ""


HEADLINES = (
    Headline("inter", 0.9, 0.87, "about 87% (Fig. 2)"),
    Headline("intra", 0.3, 0.70, "over 70% (Fig. 2)"),
    Headline("inter_em", 0.7, 0.99, "over 99% (Fig. 2)"),
    Headline("intra_em", 0.3, None, "shown, no figure given (Fig. 2)"),
    Headline("matching_fixed", 0.6, 0.934, "93.4% (Fig. 4)"),
    Headline("matching_adaptive", 0.6, 0.905, "90.5% (Fig. 4)"),
)


def summarise(histograms: pd.DataFrame) -> pd.DataFrame:
    """Per sequence and overall: analysis, threshold, above, total, fraction, paper.

    ``histograms`` has columns sequence, analysis, bin_lo, count (any other columns are
    ignored); analyses without counts are left out.
    """
    rows = []
    for headline in HEADLINES:
        part = histograms[histograms["analysis"] == headline.analysis]
        if part.empty:
            continue
        # bin edges come from np.linspace: within 1e-12 of the threshold means on it
        above = part["count"].where(part["bin_lo"] >= headline.threshold - 1e-12, 0)
        grouped = pd.DataFrame({"sequence": part["sequence"].astype(str), "above": above, "total": part["count"]})
        per_sequence = grouped.groupby("sequence", sort=False)[["above", "total"]].sum()
        per_sequence.loc[ALL] = per_sequence.sum()
        for sequence, (up, total) in per_sequence.iterrows():
            rows.append(
                {
                    "sequence": sequence,
                    "analysis": headline.analysis,
                    "threshold": headline.threshold,
                    "above": int(up),
                    "total": int(total),
                    "fraction": up / total if total else float("nan"),
                    "paper": headline.paper,
                }
            )
    columns = ("sequence", "analysis", "threshold", "above", "total", "fraction", "paper")
    return pd.DataFrame(rows, columns=columns).astype({"paper": "float64"})
