"""``vosbench sweep``: a grid of settings run as one run directory, then its ablation outputs.

A sweep is a run whose method labels are the grid's settings, so resuming, shards,
merging, telemetry and self-evaluation are the run's own. Beside the run's manifest,
``sweep.json`` records the grid (axes in order, each label's values); a rerun with
another grid stops before anything runs. Every invocation, including a resumed one with
nothing left to do, ends by rebuilding ``OUT/sweep/`` from the run directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from vosbench.atomic import atomic_dir, atomic_file
from vosbench.data import Dataset
from vosbench.errors import VosbenchError
from vosbench.executors import Executor
from vosbench.report.table_formats import to_latex, to_markdown
from vosbench.run import RunConfig, RunReport, load_run, run
from vosbench.run import store
from vosbench.run.progress import RunProgress
from vosbench.sweep.figure import tradeoff_figure
from vosbench.sweep.grid import Sweep
from vosbench.sweep.tables import DIGITS, ablation_table, display_tables

SWEEP_JSON = "sweep.json"
OUTPUTS = "sweep"


@dataclass(frozen=True)
class SweepResult:
    report: RunReport
    table: pd.DataFrame  # ablation.csv
    outputs: Path  # OUT/sweep


def run_sweep(
    sweep: Sweep,
    config: RunConfig,
    dataset: Dataset,
    out: str | Path,
    *,
    overwrite: bool = False,
    progress: RunProgress | None = None,
    command: Sequence[str] | None = None,
    executor: Executor | None = None,
) -> SweepResult:
    """Run every setting of ``sweep`` (``config`` from ``sweep.config(...)``) into ``out``
    and write the ablation tables and trade-off figure into ``out/sweep``; ``executor``
    as for ``vosbench.run.run`` (a task is one setting over some sequences)."""
    if config.methods != sweep.choices:
        raise ValueError("config.methods must be the sweep's settings; make the config with sweep.config(...)")
    out = Path(out)
    described = sweep.describe()
    _check_grid(out, described)
    try:
        report = run(config, dataset, out, overwrite=overwrite, progress=progress, command=command, executor=executor)
    finally:
        # the run accepted the folder (its manifest lists these settings): record the grid,
        # also when it was interrupted, so the axes are known to whoever reads it next
        if _run_of(out) == [c.label for c in sweep.choices]:
            _write_json(out / SWEEP_JSON, described)
    table = ablation_table(load_run(out), sweep.axis_names)
    return SweepResult(report, table, write_outputs(out / OUTPUTS, table, sweep.axis_names))


def _check_grid(out: Path, described: dict[str, Any]) -> None:
    path = out / SWEEP_JSON
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return  # a new folder, or one the run's own manifest check will judge
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VosbenchError(f"{path}: cannot read the sweep's grid ({error}); restore it or choose another --out") from None
    changed = store.differences(recorded, described)
    if changed:
        shown = "; ".join(changed[:3]) + (f"; ... ({len(changed)} in all)" if len(changed) > 3 else "")
        raise VosbenchError(
            f"{path}: this folder holds a sweep over another grid ({shown}); rerun its own command to resume, "
            "or choose another --out"
        )


def _run_of(out: Path) -> list[str] | None:
    try:
        manifest = store.read_manifest(out)
    except VosbenchError:
        return None
    return None if manifest is None else [m["label"] for m in manifest["config"]["methods"]]


def _write_json(path: Path, value: Any) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


def write_outputs(folder: str | Path, table: pd.DataFrame, axes: Sequence[str]) -> Path:
    """``ablation.csv``, ``.md``, ``.tex`` and ``tradeoff.png``/``.pdf``, all replaced at once."""
    folder = Path(folder)
    shown = display_tables(table, axes)
    with atomic_dir(folder) as tmp:
        table.to_csv(tmp / "ablation.csv", index=False)
        title = f"Sweep over {' x '.join(axes)}"
        markdown = [f"# {title}\n"] + [f"{caption}\n\n{to_markdown(part, DIGITS)}" for caption, part in shown]
        (tmp / "ablation.md").write_text("\n".join(markdown), encoding="utf-8")
        latex = [f"% {title}; each tabular needs \\usepackage{{booktabs}}\n"]
        latex += [f"% {caption}\n{to_latex(part, DIGITS)}" for caption, part in shown]
        (tmp / "ablation.tex").write_text("\n".join(latex), encoding="utf-8")
        figure = tradeoff_figure(table, axes)
        for suffix in ("png", "pdf"):
            figure.savefig(tmp / f"tradeoff.{suffix}", format=suffix, dpi=200)
    return folder
