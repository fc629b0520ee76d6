"""`vosbench sweep`: a 2x2 grid run as one run directory, its ablation tables and figure,
resume, a different grid, and a sweep without J&F."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import ROOT
from vosbench import load_run
from vosbench.data import open_dataset
from vosbench.errors import VosbenchError
from vosbench.masks import read_mask
from vosbench.sweep import plan_sweep, run_sweep
from vosbench.sweep.figure import tradeoff_figure
from vosbench.sweep.tables import FIGURES, SCORES, display_tables, pivot_table

GRID = ["num_bases=8,16", "em_iters=1,3"]
FIXED = ["top_l=4"]  # SWEM's default top_l (64) needs at least 64 bases


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished 2x2 SWEM sweep over two tiny synthetic videos: (data folder, run folder, sweep, result)."""
    folder = tmp_path_factory.mktemp("sweep")
    data = open_dataset("synthetic", folder / "data", layout="davis", videos=2, frames=5, objects=2, size="48x64")
    sweep = plan_sweep(["swem"], GRID, FIXED)
    result = run_sweep(sweep, sweep.config(), data, folder / "run")
    return folder / "data", folder / "run", sweep, result


def test_ablation_table_is_the_run_summary_per_setting(swept):
    _, out, sweep, result = swept
    table = result.table
    summary = load_run(out).summary.set_index("method")
    assert table["label"].tolist() == [c.label for c in sweep.choices] == summary.index.tolist()
    assert table[["num_bases", "em_iters"]].astype(int).values.tolist() == [[8, 1], [8, 3], [16, 1], [16, 3]]
    assert (table["sequences"] == 2).all() and table["J&F-Mean"].notna().all()
    for column in [*SCORES, *FIGURES]:
        expected = summary.loc[table["label"], column].reset_index(drop=True)
        pd.testing.assert_series_equal(table[column], expected, check_names=False)
    # the CSV holds the same rows; the grid is recorded beside the manifest
    written = pd.read_csv(out / "sweep" / "ablation.csv")
    assert written["label"].tolist() == table["label"].tolist()
    np.testing.assert_allclose(written["J&F-Mean"], table["J&F-Mean"])
    np.testing.assert_allclose(written["fps"], table["fps"])
    assert json.loads((out / "sweep.json").read_text()) == sweep.describe()


def test_two_axes_give_a_pivot_of_jf_and_fps(swept):
    _, out, _, result = swept
    table = result.table
    pivot = pivot_table(table, "num_bases", "em_iters")
    assert pivot.columns.tolist() == ["num_bases", "em_iters=1", "em_iters=3"]
    assert pivot["num_bases"].tolist() == ["8", "16"]
    row = table[(table["num_bases"] == 16) & (table["em_iters"] == 3)].iloc[0]
    assert pivot.loc[1, "em_iters=3"] == f"{row['J&F-Mean']:.3f} / {row['fps']:.1f}"
    markdown = (out / "sweep" / "ablation.md").read_text()
    assert "| num_bases | em_iters=1 | em_iters=3 |" in markdown
    assert f"| 16 | {pivot.loc[1, 'em_iters=1']} | {pivot.loc[1, 'em_iters=3']} |" in markdown
    latex = (out / "sweep" / "ablation.tex").read_text()
    assert latex.count(r"\begin{tabular}") == latex.count(r"\bottomrule") == 2  # pivot, then every setting
    assert r"num\_bases & em\_iters=1 & em\_iters=3 \\" in latex
    assert "rss_max_bytes" not in markdown and "gpu_peak_bytes" not in markdown  # one process's RSS; null on the CPU


def test_latex_compiles_inside_a_table_float(swept, tmp_path):
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("needs pdflatex")
    _, out, _, _ = swept
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\begin{document}\\begin{table}\n"
        f"\\input{{{out / 'sweep' / 'ablation.tex'}}}\n\\end{{table}}\\end{{document}}\n"
    )
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:]


def test_tradeoff_figure_has_a_point_per_setting_or_says_what_is_missing(swept):
    _, out, _, result = swept
    image = np.asarray(Image.open(out / "sweep" / "tradeoff.png").convert("RGB"))
    assert image.shape[:2] == (840, 1280) and len(np.unique(image.reshape(-1, 3), axis=0)) > 50
    assert (out / "sweep" / "tradeoff.pdf").read_bytes()[:5] == b"%PDF-"
    figure = tradeoff_figure(result.table, ["num_bases", "em_iters"])
    (ax,) = figure.axes
    assert len(ax.collections) == 4 and ax.get_xlabel().startswith("FPS") and ax.get_ylabel() == "J&F"
    assert len(ax.lines) == 2  # along num_bases, one line per em_iters value
    unscored = result.table.drop(columns=SCORES)
    (ax,) = tradeoff_figure(unscored, ["num_bases", "em_iters"]).axes
    assert "no J&F" in ax.get_title(loc="left") and len(ax.patches) == 4  # FPS bars, not empty axes


def test_one_and_three_axes_give_the_long_table(swept):
    table = swept[3].table
    (caption, only), = display_tables(table, ["num_bases"])
    assert only.columns.tolist()[:2] == ["num_bases", "J&F-Mean"] and len(only) == 4
    three = table.assign(tau=0.05)
    (_, long), = display_tables(three, ["num_bases", "em_iters", "tau"])
    assert long.columns.tolist()[:4] == ["num_bases", "em_iters", "tau", "J&F-Mean"]
    (_, pivot), _ = display_tables(three.drop(columns=SCORES), ["num_bases", "em_iters"])
    assert pivot.iloc[0, 1] == f"{table['fps'].iloc[0]:.1f}"  # FPS alone without J&F


def test_rerun_resumes_only_the_missing_pair_with_equal_results(swept, tmp_path):
    data, out, sweep, result = swept
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    label = sweep.choices[2].label
    shutil.rmtree(copy / "parts" / label / "synth-001")
    shutil.rmtree(copy / "sweep")
    dataset = open_dataset("davis2017", data)
    again = run_sweep(sweep, sweep.config(), dataset, copy)
    assert again.report.segmented == [(label, "synth-001")] and len(again.report.skipped) == 7
    for column in ["label", "num_bases", "em_iters", "sequences", *SCORES, "stored_features_max", "memory_max_bytes"]:
        pd.testing.assert_series_equal(again.table[column], result.table[column])
    masks = copy / "masks" / label / "synth-001"
    for path in sorted((out / "masks" / label / "synth-001").iterdir()):
        assert np.array_equal(read_mask(masks / path.name), read_mask(path))
    # nothing left: the tables are still rebuilt
    shutil.rmtree(copy / "sweep")
    assert run_sweep(sweep, sweep.config(), dataset, copy).report.segmented == []
    assert (copy / "sweep" / "ablation.md").is_file()


def test_another_grid_in_the_same_folder_stops_before_running(swept):
    data, out, _, _ = swept
    other = plan_sweep(["swem"], ["num_bases=8,32", "em_iters=1,3"], FIXED)
    before = sorted(p.name for p in (out / "parts").iterdir())
    with pytest.raises(VosbenchError, match="sweep over another grid .*num_bases"):
        run_sweep(other, other.config(), open_dataset("davis2017", data), out)
    assert sorted(p.name for p in (out / "parts").iterdir()) == before


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_sweep_without_scores_then_a_changed_grid(swept, tmp_path):
    data = swept[0]
    out = tmp_path / "run"
    common = ["-m", "stcn", "-m", "swiftnet", "-d", "davis2017", "--root", str(data), "--sequences", "synth-000",
              "--max-frames", "3", "--no-eval", "-o", str(out)]
    done = cli("sweep", "--grid", "mem_every=2,4", *common)
    assert done.returncode == 0, done.stderr
    assert "4 setting(s); 4 sequence(s) segmented" in done.stdout
    table = pd.read_csv(out / "sweep" / "ablation.csv")
    assert table["label"].tolist() == ["stcn@mem_every=2", "stcn@mem_every=4", "swiftnet@mem_every=2", "swiftnet@mem_every=4"]
    assert not set(SCORES) & set(table.columns) and table["fps"].notna().all()
    assert "no J&F" in (out / "sweep" / "ablation.md").read_text()
    assert (out / "sweep" / "tradeoff.png").is_file()
    changed = cli("sweep", "--grid", "mem_every=2,3", *common)
    assert changed.returncode == 2 and len(changed.stderr.strip().splitlines()) == 1
    assert "another grid" in changed.stderr and "sweep.json" in changed.stderr
