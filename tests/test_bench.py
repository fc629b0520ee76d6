"""Smoke tests of bench/run.py's smallest paths: tiny measurements, the table and the files.

Timings are not asserted (they belong to the bench itself); what is checked is that each
measurement comes out as rows that add up, and that the writer leaves both files or none.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


def test_method_rows_count_flops_by_stage(bench):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(3)]
    mask = np.zeros((64, 96), np.uint8)
    mask[16:48, 24:72] = 1
    rows = bench.method_rows("swiftnet", frames, mask, "cpu", conv=100.0, matmul=50.0)
    table = pd.DataFrame([vars(r) for r in rows])
    total = table[(table.measurement == "s_per_frame") & (table.stage == "total")].iloc[0]
    assert total.anchor == bench.OFFICIAL_S_PER_FRAME["swiftnet"]
    assert total.ratio == pytest.approx(total.anchor / total.value)
    flops = table[table.measurement == "gflop_per_frame"].set_index("stage").value
    assert flops["total"] > 0 and flops["encode"] > 0
    # every FLOP of a step happens inside one of its stages
    assert flops[list(bench.STAGES)].sum() == pytest.approx(flops["total"])
    achieved = table[(table.measurement == "achieved_gflops") & (table.stage == "total")].iloc[0]
    assert achieved.ratio == pytest.approx(achieved.value / 100.0)


def test_results_table_and_environment(bench, tmp_path):
    rows = bench.redundancy_rows(dict(positions=64, channels=8, count=3, bases=8, repeats=1))
    assert {r.stage for r in rows} >= {"inter", "all (analyse)"} and all(r.value > 0 for r in rows)
    matmul = bench.flops.matmul_reference("cpu", repeats=1, size=64)
    rows += [bench.Row("reference_gflops", "matmul", "64^2", matmul, "GFLOP/s"),
             bench.Row("s_per_frame", "stcn", "total", 0.62, "s", 1.24, bench.OFFICIAL_LABEL, 2.0)]
    args = argparse.Namespace(device="cpu", quick=True, sequence="blackswan", official_checkouts={})
    env = bench.environment(args, bench.QUICK)
    out = tmp_path / "results"
    bench.write_results(rows, env, out)
    assert sorted(p.name for p in out.iterdir()) == ["environment.json", "results.csv"]
    table = pd.read_csv(out / "results.csv")
    assert list(table.columns[:5]) == ["measurement", "method", "stage", "value", "unit"]
    assert len(table) == len(rows)
    written = json.loads((out / "environment.json").read_text())
    assert written["torch"] == env["torch"] and written["plan"]["frames"] == bench.QUICK.frames
    assert written["git_commit"] != ""

    console = Console(record=True, width=160)
    bench.print_table(rows, "smoke", console)
    text = console.export_text()
    assert "s_per_frame stcn total" in text and bench.OFFICIAL_LABEL in text
    assert "redundancy_frames_per_s redundancy all (analyse)" in text
    assert "redundancy bank" not in text  # per-analysis rows stay in the CSV


def test_reference_evaluator_needs_name_and_folder(bench, tmp_path):
    assert bench.parse_references([f"vos-benchmark={tmp_path}"]) == {"vos-benchmark": tmp_path}
    with pytest.raises(SystemExit, match="NAME=PATH"):
        bench.parse_references([str(tmp_path)])
    with pytest.raises(SystemExit, match="not a folder"):
        bench.parse_references([f"vos-benchmark={tmp_path / 'missing'}"])
