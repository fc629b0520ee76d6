"""What a report is made from: run directories and redundancy folders, read into one tidy set.

Several run directories may be given. Their tables are concatenated with the run's
label in ``method`` (the label every figure and table shows) and the run directory's
name in ``run``; a label that two runs share is qualified as ``LABEL@RUN`` so each keeps
its own row and colour (``style.method_of`` still finds the method's hue).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from vosbench.errors import VosbenchError
from vosbench.run.tables import Run, load_run



def dataset_name(info: dict[str, Any] | None) -> str:
    """A manifest's dataset as reports name it: a generated set says that it is one."""
    info = info or {}
    name = info.get("name") or "?"
    return f"synthetic videos ({name} layout)" if info.get("synthetic") else name

@dataclass(frozen=True)
class RunInput:
    """One run directory and how its labels are shown."""

    root: Path
    name: str  # the run directory's name, made unique among the runs given
    run: Run
    labels: dict[str, str]  # the run's own label -> the label the report shows

    @property
    def manifest(self) -> dict[str, Any]:
        return self.run.manifest


@dataclass(frozen=True)
class RedundancyInput:
    """One ``vosbench redundancy`` output folder, read back."""

    root: Path
    manifest: dict[str, Any]
    histograms: pd.DataFrame
    frames: pd.DataFrame
    summary: pd.DataFrame
    sequences: pd.DataFrame

    @property
    def title(self) -> str:
        """What was analysed, in a few words: features, trained or not, dataset."""
        features = self.manifest.get("features", "?")
        kind = "training-free" if self.manifest.get("training_free") else "trained"
        dataset = dataset_name(self.manifest.get("dataset"))
        return f"{features} key features ({kind}) on {dataset}"


@dataclass(frozen=True)
class Inputs:
    """Every run and redundancy folder of one report, and the runs' tables combined."""

    runs: tuple[RunInput, ...]
    redundancy: tuple[RedundancyInput, ...]
    frames: pd.DataFrame  # the run's frames tables, method = shown label, plus ``run``
    objects: pd.DataFrame
    labels: tuple[str, ...]  # shown labels, in run order

    def run_of(self, label: str) -> RunInput:
        return next(r for r in self.runs if label in r.labels.values())


def load_inputs(runs: Sequence[str | Path], redundancy: Sequence[str | Path] = ()) -> Inputs:
    """Read every directory; bad or empty ones raise ``VosbenchError`` naming them."""
    if not runs:
        raise VosbenchError("no run directory given; pass one or more RUN_DIRs made by `vosbench run`")
    roots = [Path(path) for path in runs]
    _refuse_repeats(roots, "run directory")
    _refuse_repeats([Path(path) for path in redundancy], "redundancy folder")
    loaded = [_load_run(root) for root in roots]
    names = _unique_names(roots)
    counts = Counter(label for run in loaded for label in _labels(run))
    inputs = []
    for root, name, run in zip(roots, names, loaded):
        labels = {label: f"{label}@{name}" if counts[label] > 1 else label for label in _labels(run)}
        inputs.append(RunInput(root, name, run, labels))
    frames = pd.concat([_relabel(r.run.frames, r) for r in inputs], ignore_index=True)
    objects = pd.concat([_relabel(r.run.objects, r) for r in inputs], ignore_index=True)
    shown = tuple(label for r in inputs for label in r.labels.values())
    return Inputs(tuple(inputs), tuple(load_redundancy(Path(p)) for p in redundancy), frames, objects, shown)


def _refuse_repeats(paths: list[Path], what: str) -> None:
    resolved = Counter(path.resolve() for path in paths)
    repeated = [path for path in paths if resolved[path.resolve()] > 1]
    if repeated:
        raise VosbenchError(f"{repeated[0]}: the same {what} is given twice; give each once")


def _load_run(root: Path) -> Run:
    if not root.is_dir():
        raise VosbenchError(f"{root}: run directory not found; give a folder made by `vosbench run`")
    run = load_run(root)
    if run.frames.empty:
        raise VosbenchError(f"{root}: the run has no finished sequence; rerun its `vosbench run` command to complete it")
    return run


def _labels(run: Run) -> list[str]:
    """The run's labels that have records, in the run's order."""
    present = set(run.frames["method"])
    return [m["label"] for m in run.manifest["config"]["methods"] if m["label"] in present]


def _unique_names(roots: list[Path]) -> list[str]:
    """Each run directory's name; names that repeat get their position (run, run-2)."""
    names = [root.resolve().name for root in roots]
    seen: Counter[str] = Counter()
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if names.count(name) == 1 or seen[name] == 1 else f"{name}-{seen[name]}")
    return unique


def _relabel(table: pd.DataFrame, run: RunInput) -> pd.DataFrame:
    out = table[table["method"].isin(run.labels)].copy()
    out["method"] = out["method"].map(run.labels).astype("str")
    out.insert(1, "run", run.name)
    return out


def load_redundancy(root: Path) -> RedundancyInput:
    """A ``vosbench redundancy`` output folder: its manifest and tables."""
    manifest_path = root / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VosbenchError(f"{root}: no manifest.json; give a folder made by `vosbench redundancy`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VosbenchError(f"{manifest_path}: cannot read the manifest ({error}); rerun `vosbench redundancy`") from None
    if not isinstance(manifest, dict) or "features" not in manifest or "analysis" not in manifest:
        raise VosbenchError(f"{root}: not a `vosbench redundancy` output folder (its manifest has no features/analysis)")
    files = ["histograms.parquet", "frames.parquet", "summary.parquet", "sequences.csv"]
    missing = [name for name in files if not (root / name).is_file()]
    if missing:
        raise VosbenchError(f"{root}: {missing[0]} is missing; rerun the same `vosbench redundancy` command to finish it")
    try:
        tables = {name: pd.read_parquet(root / f"{name}.parquet") for name in ("histograms", "frames", "summary")}
        tables["sequences"] = pd.read_csv(root / "sequences.csv", keep_default_na=False)
    except (OSError, ValueError) as error:
        raise VosbenchError(f"{root}: cannot read the redundancy tables ({error}); rerun `vosbench redundancy`") from None
    return RedundancyInput(root, manifest, **tables)
