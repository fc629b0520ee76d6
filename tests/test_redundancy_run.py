"""``vosbench redundancy`` end to end: real DAVIS frames, saved features, resume, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conformance import write_checkpoint
from vosbench.data import open_dataset
from vosbench.errors import VosbenchError
from vosbench.redundancy.analysis import Settings
from vosbench.redundancy.em import frame_bases
from vosbench.redundancy.run import RedundancyConfig, run_redundancy

ROOT = Path(__file__).resolve().parents[1]
SEQUENCES = ["blackswan", "car-shadow"]
FRAMES = 4


def unit(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1)


def recompute(features: np.ndarray, settings: Settings) -> dict[tuple[int, str], np.ndarray]:
    """The four feature histograms of one sequence from its saved [T, N, C] features,
    with full float64 matrices and np.histogram (the EM bases from the shared EM code)."""
    bins, counts, previous = settings.bins, {}, None
    for t, frame in enumerate(features):
        bases = frame_bases(frame, settings.bases, settings.em_iters, settings.tau, settings.seed)
        for name, x in (("intra", frame), ("intra_em", bases)):
            u = unit(x)
            counts[t, name] = np.histogram(np.clip(u @ u.T, -1, 1)[np.triu_indices(len(u), 1)], bins, (-1, 1))[0]
        if previous is not None:
            for name, keys in (("inter", previous[0]), ("inter_em", previous[1])):
                counts[t, name] = np.histogram(np.clip(unit(frame) @ unit(keys).T, -1, 1).max(axis=1), bins, (-1, 1))[0]
        previous = (frame, bases)
    return counts


@pytest.fixture(scope="module")
def davis_run(tmp_path_factory):
    from conftest import shared_path

    root = shared_path("data", "davis2016-val")
    out = tmp_path_factory.mktemp("redundancy") / "out"
    data = open_dataset("davis2016", root, sequences=SEQUENCES)
    config = RedundancyConfig("stcn", max_frames=FRAMES, save_features=True)
    tables = run_redundancy(config, data, out)
    return config, data, out, tables


def test_counts_on_real_davis_frames(davis_run):
    config, _, out, tables = davis_run
    info = tables.sequences.set_index("sequence")
    assert list(info.index) == SEQUENCES
    n = 30 * 54  # 480x854 at training-free stride 16; 280 channels: the learned features (40 + 112) and the colour part (128)
    assert (info["positions"] == n).all() and (info["channels"] == 280).all() and (info["stride"] == 16).all()
    assert info["masks"].all()
    k = config.analysis.bases
    expected = {"intra": n * (n - 1) // 2, "intra_em": k * (k - 1) // 2}
    per_frame = tables.histograms.groupby(["sequence", "analysis", "frame"], observed=True)["count"].sum()
    for sequence in SEQUENCES:
        for t in range(FRAMES):
            for analysis, total in expected.items():
                assert per_frame[sequence, analysis, t] == total
            for analysis in ("inter", "inter_em", "matching_fixed", "matching_adaptive"):
                assert per_frame.get((sequence, analysis, t), 0) == (n if t else 0)  # one object
    frames = tables.frames
    assert len(frames) == len(SEQUENCES) * FRAMES
    assert frames.loc[frames["frame"] == 0, "triggered"].all() and (frames.loc[frames["frame"] == 0, "added"] == n).all()
    assert (frames["bank_stored"] == n).all()  # frame 0 only within 4 frames
    summary = tables.summary
    assert set(summary["sequence"]) == {*SEQUENCES, "all"}
    assert summary["fraction"].between(0, 1).all()
    # the written files hold the same tables
    assert pd.read_parquet(out / "histograms.parquet")["count"].sum() == tables.histograms["count"].sum()
    assert len(pd.read_csv(out / "histograms.csv")) == len(tables.histograms)
    assert len(pd.read_csv(out / "summary.csv")) == len(summary)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["features"] == "stcn" and manifest["training_free"] and manifest["analysis"]["bases"] == k
    assert manifest["sequences"]["blackswan"]["grid_h"] == 30
    for name in ("redundancy", "matching", "variation", "bank"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
        assert (out / "figures" / f"{name}.pdf").is_file()


def test_histograms_recomputed_from_saved_features_match_exactly(davis_run):
    config, _, out, tables = davis_run
    for sequence in SEQUENCES:
        features = np.load(out / "features" / f"{sequence}.npy")
        assert features.dtype == np.float32 and features.shape == (FRAMES, 30 * 54, 280)
        ours = tables.histograms[tables.histograms["sequence"] == sequence]
        for (t, analysis), counts in recompute(features, config.analysis).items():
            rows = ours[(ours["frame"] == t) & (ours["analysis"] == analysis)]
            dense = np.zeros(config.analysis.bins, np.int64)
            dense[np.round((rows["bin_lo"].to_numpy() + 1) * config.analysis.bins / 2).astype(int)] = rows["count"]
            assert np.array_equal(dense, counts), (sequence, t, analysis)


def test_a_rerun_resumes_and_other_settings_are_refused(davis_run):
    config, data, out, tables = davis_run
    part = out / "parts" / "blackswan" / "histograms.parquet"
    before = part.stat().st_mtime_ns
    again = run_redundancy(config, data, out, figures=False)
    assert part.stat().st_mtime_ns == before  # nothing recomputed
    pd.testing.assert_frame_equal(again.summary, tables.summary)
    other = RedundancyConfig("stcn", max_frames=FRAMES, analysis=Settings(bases=64))
    with pytest.raises(VosbenchError, match="other analysis"):
        run_redundancy(other, data, out)


def test_trained_key_features_from_a_checkpoint(tmp_path, davis2016):
    checkpoint = write_checkpoint("stcn", tmp_path / "stcn.pth")
    data = open_dataset("davis2016", davis2016, sequences=["blackswan"])
    config = RedundancyConfig("stcn", checkpoint=str(checkpoint), max_frames=2, analysis=Settings(bases=16))
    tables = run_redundancy(config, data, tmp_path / "out", figures=False)
    row = tables.sequences.iloc[0]
    # the trained key projection: 64 channels on the padded 480x864 grid at stride 16
    assert (row["channels"], row["grid_h"], row["grid_w"]) == (64, 30, 54)
    intra = tables.histograms[(tables.histograms["analysis"] == "intra") & (tables.histograms["frame"] == 1)]
    assert intra["count"].sum() == 1620 * 1619 // 2


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), "redundancy", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_on_generated_videos(tmp_path):
    out = tmp_path / "out"
    result = run_cli(
        "-d", "synthetic", "--root", str(tmp_path / "data"), "-f", "swiftnet", "--set", "tf_stride=32",
        "--max-frames", "6", "--bases", "16", "--threads", "1", "-o", str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "matching_adaptive" in result.stdout and str(out) in result.stdout.replace("\n", "")
    histograms = pd.read_parquet(out / "histograms.parquet")
    assert set(histograms["analysis"].astype(str)) == {"inter", "intra", "inter_em", "intra_em", "matching_fixed", "matching_adaptive"}
    assert json.loads((out / "manifest.json").read_text())["settings"]["tf_stride"] == 32
    assert len(pd.read_csv(out / "frames.csv")) == 3 * 6  # three generated videos


def test_videos_without_ground_truth_on_every_frame_skip_the_mask_analyses(tmp_path):
    # all frames of a YouTube-VOS-style video: ground truth on every 5th only
    data = open_dataset("synthetic", tmp_path / "data", layout="youtube", videos=1, frames=12, size="96x128", all_frames=True)
    config = RedundancyConfig("stcn", settings={"tf_stride": 8}, analysis=Settings(bases=8))
    tables = run_redundancy(config, data, tmp_path / "out", figures=False)
    row = tables.sequences.iloc[0]
    assert not row["masks"] and "matching and variation need every frame's masks" in row["note"]
    assert set(tables.histograms["analysis"].astype(str)) == {"inter", "intra", "inter_em", "intra_em"}
    assert tables.frames["varied"].isna().all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-f", "nonesuch"], "unknown method 'nonesuch'"),
        (["-f", "stcn", "--bins", "30"], "multiple of 20"),
        (["-f", "stcn", "--set", "tf_stride=zero"], "parameter tf_stride"),
        (["-f", "stcn", "--checkpoint", "missing.pth"], "missing.pth: checkpoint file not found"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    data = tmp_path / "data"
    result = run_cli("-d", "synthetic", "--root", str(data), "--max-frames", "2", "-o", str(tmp_path / "out"), *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out" / "histograms.parquet").exists()


def test_a_corrupt_frame_midway_leaves_nothing_half_written(tmp_path):
    from PIL import Image

    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(3):
        Image.fromarray(np.full((48, 64, 3), 100 + index, np.uint8)).save(frames / f"{index:05d}.jpg")
    (frames / "00003.jpg").write_bytes(b"not a jpeg")
    mask = tmp_path / "mask.png"
    Image.fromarray(np.pad(np.ones((8, 8), np.uint8), ((10, 30), (10, 46)))).save(mask)
    data = open_dataset("frames", frames, mask=mask)
    out = tmp_path / "out"
    config = RedundancyConfig("stcn", analysis=Settings(bases=4), save_features=True)
    with pytest.raises(VosbenchError, match="00003.jpg"):
        run_redundancy(config, data, out, figures=False)
    assert not (out / "parts").exists() or not any((out / "parts").iterdir())
    assert not (out / "features").exists() or not any((out / "features").iterdir())
    assert not (out / "histograms.parquet").exists()


def test_cli_defaults_are_the_analysis_defaults():
    # cli.py spells the defaults out (it imports nothing heavy at start-up); they must not drift.
    import dataclasses
    import inspect

    import cli

    options = inspect.signature(cli.redundancy_command).parameters
    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    for name in ("bases", "bins", "bank_every", "max_mid_term_frames", "min_mid_term_frames", "num_prototypes", "th_f", "th_m", "p_th", "beta"):
        assert options[name].default.default == defaults[name], name
