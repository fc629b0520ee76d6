"""vosbench budget: growth fits with known answers, and a real run whose later memory is
predicted from its first frames (a capped and an uncapped STCN)."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vosbench.budget import Fit, check, exceed_frame, objects, project
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


def test_growth_in_objects_is_fitted_across_sequences():
    rng = np.random.default_rng(1)
    rows = []
    for method, shared, per_object in (("grows", (100.0, 2.0), (50.0, 3.0)), ("flat", (400.0, 0.0), (0.0, 0.0))):
        for k in (1, 2, 3, 4, 5):
            noise = 1 + rng.normal(0, 1e-3, 2)
            level, growth = (100 * (s + p * k) * n for s, p, n in zip(shared, per_object, noise))
            rows.append({"method": method, "sequence": f"v{k}", "size": "10x10", "objects": k,
                         "memory_level_bytes": level, "memory_b_bytes_per_frame": growth})
    rows += [{"method": "one", "sequence": f"v{i}", "size": "10x10", "objects": 2, "memory_level_bytes": 1.0,
              "memory_b_bytes_per_frame": 0.0} for i in range(3)]
    table = objects(pd.DataFrame(rows), (24,)).set_index("method")
    grows = table.loc["grows"]
    assert grows["objects_growth"] == "linear in objects" and grows["objects_seen"] == "1,2,3,4,5"
    assert grows["level_per_object_bytes_per_pixel"] == pytest.approx(50, rel=0.01)
    assert grows["growth_shared_bytes_per_pixel_frame"] == pytest.approx(2, rel=0.05)
    assert grows["growth_per_object_bytes_per_pixel_frame"] == pytest.approx(3, rel=0.01)
    # 480p with 10 objects: 409,920 pixels hold 600 bytes each and add 32 a frame
    assert grows["frames_to_24GiB_480p_10obj"] == pytest.approx((24 * 2**30 - 409_920 * 600) / (409_920 * 32), rel=0.01)
    assert grows["frames_to_24GiB_480p_1obj"] > grows["frames_to_24GiB_480p_5obj"] > grows["frames_to_24GiB_480p_10obj"]
    assert table.loc["flat", "objects_growth"] == "constant in objects"
    assert table.loc["flat", "frames_to_24GiB_1080p_10obj"] == math.inf
    assert table.loc["one", "objects_growth"] == "objects not varied"


def test_growth_in_objects_of_a_real_run(tmp_path):
    # one DAVIS-layout root holding generated videos of 1, 2 and 3 objects
    root = tmp_path / "data"
    names = []
    for k in (1, 2, 3):
        open_dataset("synthetic", tmp_path / f"k{k}", layout="davis", videos=1, frames=24, objects=k, size="32x48")
        for part in ("JPEGImages", "Annotations"):
            shutil.copytree(tmp_path / f"k{k}" / part / "480p" / "synth-000", root / part / "480p" / f"objects-{k}")
        names.append(f"objects-{k}")
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("\n".join(names) + "\n")
    data = open_dataset("davis2017", root)
    run(RunConfig((MethodChoice.of("stcn", label="stcn"),), evaluate=False), data, tmp_path / "run")
    table = project(load_run(tmp_path / "run"), (24,))
    row = objects(table, (24,)).set_index("method").loc["stcn"]
    assert row["objects_growth"] == "linear in objects" and row["objects_seen"] == "1,2,3"
    # STCN stores one value map per object and stored frame; its fit reproduces each sequence's growth
    per_pixel = table["memory_b_bytes_per_frame"] / (32 * 48)
    predicted = row["growth_shared_bytes_per_pixel_frame"] + row["growth_per_object_bytes_per_pixel_frame"] * table["objects"]
    assert np.allclose(predicted, per_pixel, rtol=0.05), (predicted.tolist(), per_pixel.tolist())
