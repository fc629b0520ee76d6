"""All the redundancy analyses of one sequence, frame by frame, from its key features.

Histogram analyses (counts per frame; N positions, K objects, B = ``bases``):

| analysis | what is counted | counts per frame |
| --- | --- | --- |
| ``inter`` | each position of frame t: highest cosine to any position of frame t-1 | N (t >= 1) |
| ``intra`` | every unordered pair of positions of frame t | N(N-1)/2 |
| ``inter_em`` | each position of frame t: highest cosine to the B EM bases of frame t-1 | N (t >= 1) |
| ``intra_em`` | every unordered pair of the B EM bases of frame t | B(B-1)/2 |
| ``matching_fixed`` | each position of frame t, per object: highest cosine to SWEM's bases fitted up to t-1, fixed weights | N K (t >= 1) |
| ``matching_adaptive`` | the same with SWEM's adaptive weights | N K (t >= 1) |

The matching memory holds B/2 bases per group (background, foreground), B per object as
SWEM's default 2 x 128. Per-frame statistics (one row per frame): SwiftNet's variation
(``variation.py``), the periodic bank's redundancy (``bank.py``), that of XMem's
long-term memory fed on the bank's schedule (``long_term.py``) and, for a method with
an object memory, that of its object summaries (``objects.py``). The matching,
variation and object-memory analyses need every frame's object masks; without them
they are skipped.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd
import torch

from methods.memory.consolidation import WorkingLongTermMemory
from methods.memory.em_bases import EMBases
from methods.memory.periodic import PeriodicBank
from methods.memory.pixel_adaptive import PixelAdaptiveMemory
from vosbench.errors import VosbenchError
from vosbench.redundancy.bank import THRESHOLD, BankRedundancy
from vosbench.redundancy.em import frame_bases
from vosbench.redundancy.histogram import CHUNK, Bins, Unit, max_counts, pair_counts
from vosbench.redundancy.long_term import LongTermRedundancy
from vosbench.redundancy.matching import SwemMatching
from vosbench.redundancy.objects import ObjectSummaryRedundancy
from vosbench.redundancy.summary import HEADLINES
from vosbench.redundancy.variation import COLUMNS as VARIATION_COLUMNS
from vosbench.redundancy.variation import DTYPES as VARIATION_DTYPES
from vosbench.redundancy.variation import SwiftNetVariation

ANALYSES = ("inter", "intra", "inter_em", "intra_em", "matching_fixed", "matching_adaptive")
MASKED = ("matching_fixed", "matching_adaptive")
BANK_COLUMNS = ("bank_written", "bank_stored", "bank_redundant", "bank_share")
LONG_TERM_COLUMNS = ("long_term_changed", "working_stored", "long_term_stored", "long_term_redundant", "long_term_share")
# missing (NA) where the method keeps no object memory or the masks are not all given
OBJECT_DTYPES = {"object_written": "boolean", "object_stored": "Int64", "object_redundant": "Int64", "object_share": "Float64"}
OBJECT_COLUMNS = tuple(OBJECT_DTYPES)


def _default(policy: type, name: str):
    # One default per parameter: the memory policy's own.
    return inspect.signature(policy).parameters[name].default


@dataclass(frozen=True)
class Settings:
    """The analysis parameters (the method's own go to the method)."""

    bases: int = 256
    bins: int = 100
    em_iters: int = _default(EMBases, "em_iters")
    tau: float = _default(EMBases, "tau")
    seed: int = _default(EMBases, "seed")
    bank_every: int = _default(PeriodicBank, "every")
    top_k: int = _default(WorkingLongTermMemory, "top_k")
    max_mid_term_frames: int = _default(WorkingLongTermMemory, "max_mid_term_frames")
    min_mid_term_frames: int = _default(WorkingLongTermMemory, "min_mid_term_frames")
    num_prototypes: int = _default(WorkingLongTermMemory, "num_prototypes")
    max_long_term_elements: int = _default(WorkingLongTermMemory, "max_long_term_elements")
    th_f: float = _default(PixelAdaptiveMemory, "th_f")
    th_m: float = _default(PixelAdaptiveMemory, "th_m")
    p_th: float = _default(PixelAdaptiveMemory, "p_th")
    beta: float = _default(PixelAdaptiveMemory, "beta")
    chunk: int = CHUNK

    def __post_init__(self) -> None:
        if isinstance(self.bases, bool) or not isinstance(self.bases, int) or self.bases < 2:
            raise VosbenchError(f"--bases must be an integer >= 2 (SWEM's memory splits them over two groups), got {self.bases!r}")
        if self.bank_every < 1:
            raise VosbenchError(f"--bank-every must be at least 1, got {self.bank_every}")
        if self.chunk < 1:
            raise VosbenchError(f"chunk must be at least 1, got {self.chunk}")
        bins = Bins(self.bins)
        for threshold in {THRESHOLD, *(h.threshold for h in HEADLINES)}:
            bins.edge_index(threshold)
        # the memory policies check their own parameters, before anything is written
        EMBases(num_bases=self.bases // 2, em_iters=self.em_iters, tau=self.tau, top_l=1, seed=self.seed)
        PixelAdaptiveMemory(beta=self.beta, trigger="variation", th_f=self.th_f, th_m=self.th_m, p_th=self.p_th)
        try:
            self.long_term_memory()
        except ValueError as error:
            raise VosbenchError(f"long-term memory: {error}") from None

    def long_term_memory(self) -> WorkingLongTermMemory:
        """XMem's policy on the periodic bank's schedule."""
        return WorkingLongTermMemory(
            every=self.bank_every,
            top_k=self.top_k,
            max_mid_term_frames=self.max_mid_term_frames,
            min_mid_term_frames=self.min_mid_term_frames,
            num_prototypes=self.num_prototypes,
            max_long_term_elements=self.max_long_term_elements,
        )


@dataclass
class Frame:
    """What the analyses see of one frame."""

    features: np.ndarray  # raw key features float32 [N, C]
    colour: torch.Tensor | None = None  # mean RGB of each grid cell [3, N]
    masks: tuple[torch.Tensor, torch.Tensor] | None = None  # soft and hard object masks [K, N]
    summaries: np.ndarray | None = None  # what the frame adds to an object memory [K, Q, C + 1]


@dataclass
class Result:
    histograms: pd.DataFrame  # frame, analysis, bin_lo, bin_hi, count (bins with a count)
    frames: pd.DataFrame  # frame, positions, variation columns, bank and long-term columns
    analyses: list[str] = field(default_factory=list)  # the histogram analyses that ran


def analyse(frames: Iterable[Frame], count: int, num_objects: int, settings: Settings = Settings()) -> Result:
    """Run every analysis over the ``count`` frames of one sequence, in order.

    With masks on every frame (and at least one object) the matching and variation
    analyses run too; give all frames masks or none.
    """
    bins = Bins(settings.bins)
    chunk = settings.chunk
    bank = BankRedundancy(bins, settings.bank_every, chunk=chunk)
    bank.start()
    long_term = LongTermRedundancy(bins, settings.long_term_memory(), chunk=chunk)
    long_term.start()
    objects = ObjectSummaryRedundancy(bins, settings.bank_every, chunk=chunk)
    objects.start(num_objects)
    matching = {
        name: SwemMatching(bins, settings.bases // 2, adaptive, settings.em_iters, settings.tau, settings.seed, chunk)
        for name, adaptive in (("matching_fixed", False), ("matching_adaptive", True))
    }
    variation = SwiftNetVariation(settings.th_f, settings.th_m, settings.p_th, settings.beta)
    with_masks: bool | None = None
    previous: tuple[Unit, Unit] | None = None
    histograms: list[tuple[int, str, np.ndarray]] = []
    rows: list[dict] = []
    for index, frame in enumerate(frames):
        if index >= count:
            break
        is_last = index == count - 1
        if with_masks is None:
            with_masks = frame.masks is not None and num_objects > 0
            for analysis in matching.values():
                analysis.start(num_objects)
            variation.start(num_objects)
        elif with_masks != (frame.masks is not None):
            raise ValueError(f"frame {index}: give masks for every frame or for none")
        units = Unit.of(frame.features)
        bases = Unit.of(frame_bases(frame.features, settings.bases, settings.em_iters, settings.tau, settings.seed))
        histograms.append((index, "intra", pair_counts(units, bins, chunk)))
        histograms.append((index, "intra_em", pair_counts(bases, bins, chunk)))
        if previous is not None:
            histograms.append((index, "inter", max_counts(units, previous[0], bins, chunk)))
            histograms.append((index, "inter_em", max_counts(units, previous[1], bins, chunk)))
        if with_masks:
            for name, analysis in matching.items():
                counts = analysis.step(index, units, frame.features, frame.masks, is_last)
                if counts is not None:
                    histograms.append((index, name, counts))
            variation.step(index, frame.colour, frame.features, frame.masks[0])
        written = bank.step(index, units, is_last)
        state = bank.state
        changed = long_term.step(index, frame.features, is_last)
        kept = long_term.state
        rows.append(
            {
                "frame": index,
                "positions": len(units),
                "bank_written": written,
                "bank_stored": state.stored,
                "bank_redundant": state.redundant,
                "bank_share": state.share,
                "long_term_changed": changed,
                "working_stored": kept.working,
                "long_term_stored": kept.stored,
                "long_term_redundant": kept.redundant,
                "long_term_share": kept.share,
            }
        )
        if frame.summaries is not None:
            summed = objects.step(index, frame.summaries, is_last)
            rows[-1].update(
                object_written=summed, object_stored=objects.state.stored,
                object_redundant=objects.state.redundant, object_share=objects.state.share,
            )
        previous = (units, bases)
    per_frame = pd.DataFrame(rows, columns=("frame", "positions", *BANK_COLUMNS, *LONG_TERM_COLUMNS, *OBJECT_COLUMNS))
    if with_masks:
        per_frame = per_frame.merge(variation.finish(int(per_frame["positions"].iloc[0])), on="frame", how="left")
    else:
        for column, dtype in VARIATION_DTYPES.items():
            per_frame[column] = pd.Series(pd.NA, index=per_frame.index, dtype=dtype)
    per_frame = per_frame.astype(OBJECT_DTYPES)
    per_frame = per_frame[["frame", "positions", *VARIATION_COLUMNS, *BANK_COLUMNS, *LONG_TERM_COLUMNS, *OBJECT_COLUMNS]]
    ran = [a for a in ANALYSES if with_masks or a not in MASKED]
    return Result(histogram_table(histograms, bins), per_frame, ran)


def histogram_table(histograms: list[tuple[int, str, np.ndarray]], bins: Bins) -> pd.DataFrame:
    """Tidy rows (frame, analysis, bin_lo, bin_hi, count) for the bins that have a count."""
    edges = bins.edges
    if not histograms:
        counts = np.zeros((0, bins.count), np.int64)
    else:
        counts = np.stack([c for _, _, c in histograms])
    frame = np.repeat([f for f, _, _ in histograms], bins.count)
    analysis = np.repeat([a for _, a, _ in histograms], bins.count)
    bin_index = np.tile(np.arange(bins.count), len(histograms))
    flat = counts.reshape(-1)
    keep = flat > 0
    return pd.DataFrame(
        {
            "frame": frame[keep].astype(np.int64),
            "analysis": pd.Categorical(analysis[keep], categories=ANALYSES),
            "bin_lo": edges[:-1][bin_index[keep]],
            "bin_hi": edges[1:][bin_index[keep]],
            "count": flat[keep],
        }
    )
