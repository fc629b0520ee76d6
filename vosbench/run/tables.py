"""The run-level tables, built from the finished sequences' parts, and ``load_run``.

``frames.parquet`` (per-frame records), ``objects.parquet`` (per-object J/F statistics),
``sequences.parquet`` (per method x sequence) and ``summary.csv`` (per method) are
rebuilt at the end of a run and by ``vosbench merge``. While a run is under way (or
after it was killed) they are absent, and ``load_run`` builds them from the parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vosbench.atomic import atomic_file
from vosbench.errors import VosbenchError
from vosbench.run.records import frames_table
from vosbench.run.selfeval import objects_table
from vosbench.run.store import Layout, planned_pairs, read_manifest, read_parts
from vosbench.run.summaries import sequence_table, summary_table


def build_tables(layout: Layout, manifest: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Every table, from the parts of the finished sequences (in run order)."""
    frames, objects = read_parts(layout, planned_pairs(manifest))
    if frames.empty:
        frames = frames_table([])
    if objects.empty:
        objects = objects_table()
    return {
        "frames": frames,
        "objects": objects,
        "sequences": sequence_table(frames, objects),
        "summary": summary_table(frames, objects),
    }


def write_tables(root: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Each file replaced atomically; the summary, which readers look at first, last."""
    for name in ("frames", "objects", "sequences"):
        with atomic_file(root / f"{name}.parquet") as tmp:
            tables[name].to_parquet(tmp, index=False)
    with atomic_file(root / "summary.csv") as tmp:
        tables["summary"].to_csv(tmp, index=False)


@dataclass(frozen=True)
class Run:
    """A run directory read back for notebooks: the manifest and the tidy tables."""

    root: Path
    manifest: dict[str, Any]
    frames: pd.DataFrame
    objects: pd.DataFrame
    sequences: pd.DataFrame
    summary: pd.DataFrame

    @property
    def layout(self) -> Layout:
        return Layout.of(self.root, self.manifest)

    def masks_dir(self, method: str, sequence: str) -> Path:
        """The folder of ``method``'s masks of ``sequence``, whatever the layout."""
        self._check_done(method, sequence)
        return self.layout.masks_dir(method, sequence)

    def probs_path(self, method: str, sequence: str) -> Path:
        """``method``'s probabilities of ``sequence`` (a run made with ``--save-probs``)."""
        self._check_done(method, sequence)
        path = self.layout.probs_path(method, sequence)
        if not path.is_file():
            raise VosbenchError(f"{self.root}: no probabilities of {method} on {sequence}; the run was made without --save-probs")
        return path

    def _check_done(self, method: str, sequence: str) -> None:
        labels = [m["label"] for m in self.manifest["config"]["methods"]]
        if method not in labels:
            raise VosbenchError(f"{self.root}: no method {method!r} in this run; its methods: {', '.join(labels)}")
        if sequence not in self.manifest["sequences"]:
            shown = ", ".join(self.manifest["sequences"][:5])
            raise VosbenchError(f"{self.root}: no sequence {sequence!r} in this run; it has {shown}, ...")
        if not self.layout.is_done(method, sequence):
            raise VosbenchError(f"{self.root}: {method} on {sequence} is not finished; rerun the run's command to finish it")


def load_run(path: str | Path) -> Run:
    """Read a run directory: its tables, or, where they are absent, the same built from parts."""
    root = Path(path)
    manifest = read_manifest(root)
    if manifest is None:
        raise VosbenchError(f"{root}: no manifest.json; not a vosbench run directory")
    names = ("frames", "objects", "sequences")
    if all((root / f"{name}.parquet").is_file() for name in names):
        try:
            tables = {name: pd.read_parquet(root / f"{name}.parquet") for name in names}
        except (OSError, ValueError) as error:
            raise VosbenchError(f"{root}: cannot read the run's tables ({error}); delete them to rebuild from the parts") from None
        # summary.csv is for people; the typed table comes from the same function
        tables["summary"] = summary_table(tables["frames"], tables["objects"])
    else:
        tables = build_tables(Layout.of(root, manifest), manifest)
    return Run(root, manifest, **tables)
