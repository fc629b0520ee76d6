"""vosbench budget: growth fits with known answers, and a real run whose later memory is
predicted from its first frames (a capped and an uncapped STCN)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vosbench.budget import Fit, check, exceed_frame, project
from vosbench.data import open_dataset
from vosbench.run import MethodChoice, RunConfig, run
from vosbench.run.tables import load_run

ROOT = Path(__file__).resolve().parents[1]


def test_fit_recovers_a_slope_and_calls_a_plateau_constant():
    frames = np.arange(0, 400)
    noise = np.random.default_rng(0).normal(0, 5, frames.size)
    linear = Fit.of(frames, 1000 + 12.5 * frames + noise)
    assert linear.growth == "linear in frames" and linear.b == pytest.approx(12.5, abs=0.1)
    assert linear.start == 200 and linear.stop == 400  # the second half: the steady state
    capped = Fit.of(frames, np.minimum(1000 + 50 * frames, 6000).astype(float))  # full by frame 100
    assert capped.growth == "constant" and capped.trend() == (6000.0, 0.0)


def test_exceed_frame():
    assert exceed_frame(100.0, 10.0, 1000.0) == 90
    assert exceed_frame(100.0, 0.0, 1000.0) == math.inf
    assert exceed_frame(2000.0, 10.0, 1000.0) == 0.0


@pytest.fixture(scope="module")
def long_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("budget")
    data = open_dataset("synthetic", folder / "data", layout="davis", videos=1, frames=160, objects=2, size="32x48")
    methods = (MethodChoice.of("stcn", {"max_frames": 3}, label="stcn@cap"), MethodChoice.of("stcn", label="stcn@uncapped"))
    run(RunConfig(methods, evaluate=False), data, folder / "run")
    return folder / "run"


def test_budget_predicts_the_rest_of_a_run_from_its_start(long_run: Path):
    checked = check(load_run(long_run), 80).set_index("method")
    assert checked.loc["stcn@cap", "memory_growth"] == "constant"
    assert checked.loc["stcn@uncapped", "memory_growth"] == "linear in frames"
    assert (checked["memory_max_rel_error"] < 0.05).all(), checked
    table = project(load_run(long_run), (24,)).set_index("method")
    assert table.loc["stcn@cap", "frames_to_24GiB_1080p"] == math.inf
    uncapped = table.loc["stcn@uncapped"]
    # 1080p has 1350x the pixels of 32x48: the frame budget shrinks by that factor
    assert uncapped["frames_to_24GiB_1080p"] == pytest.approx(uncapped["frames_to_24GiB_run"] / 1350, rel=0.01)
    assert uncapped["frames_to_24GiB_1080p_low"] <= uncapped["frames_to_24GiB_1080p"] <= uncapped["frames_to_24GiB_1080p_high"]


def test_budget_command_writes_its_tables(long_run: Path, tmp_path: Path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "budget", str(long_run), "--fit-frames", "80", "--out", str(tmp_path / "b")],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "stcn@uncapped synth-000: fitted on frames < 80" in done.stdout
    assert set(pd.read_csv(tmp_path / "b" / "check.csv")["method"]) == {"stcn@cap", "stcn@uncapped"}
    bad = subprocess.run([sys.executable, str(ROOT / "cli.py"), "budget", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "no manifest.json" in bad.stderr
