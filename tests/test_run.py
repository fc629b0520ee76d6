"""`vosbench run`: masks in the dataset's layout, probabilities, resume, the CLI contract."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from conformance import load_case, write_checkpoint
from conftest import ROOT, shared_path
from vosbench.data import open_dataset
from vosbench.errors import VosbenchError
from vosbench.masks import read_mask
from vosbench.probs import write_probs
from vosbench.run import MethodChoice, RunConfig, run


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, cwd=ROOT)


def test_probability_file_streams_frames_and_appears_only_when_complete(tmp_path):
    prob = np.random.default_rng(0).random((4, 3, 5, 7), dtype=np.float32)
    with write_probs(tmp_path / "a.npz", prob.shape) as sink:
        for frame in prob:
            sink.write(torch.from_numpy(frame))
    with np.load(tmp_path / "a.npz") as data:
        assert data.files == ["prob"] and np.array_equal(data["prob"], prob)
    with pytest.raises(VosbenchError, match="2 frames missing"):
        with write_probs(tmp_path / "b.npz", prob.shape) as sink:
            sink.write(prob[0])
            sink.write(prob[1])
    with pytest.raises(VosbenchError, match="shape"):
        with write_probs(tmp_path / "c.npz", prob.shape) as sink:
            sink.write(prob[0, :2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]


def test_run_writes_masks_and_probs_in_davis_layout_and_resumes(tmp_path):
    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=2, frames=6, objects=2, size="48x64")
    config = RunConfig((MethodChoice.of("swem", {"num_bases": 16, "top_l": 8}),), save_probs=True, max_frames=5)
    assert run(config, data, tmp_path / "run").segmented == [("swem", "synth-000"), ("swem", "synth-001")]
    for video in data:
        names = sorted(p.name for p in (tmp_path / "run" / "masks" / video.name).iterdir())
        assert names == [f"{i:05d}.png" for i in range(5)]
        assert np.array_equal(read_mask(tmp_path / "run" / "masks" / video.name / "00000.png"), video.given_mask(0))
        with np.load(tmp_path / "run" / "probs" / f"{video.name}.npz") as npz:
            prob = npz["prob"]
        assert prob.shape == (5, 3, 48, 64) and prob.dtype == np.float32
        np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-5)
    assert (tmp_path / "run" / "manifest.json").is_file()
    # a rerun finds everything complete and segments nothing
    assert run(config, data, tmp_path / "run").segmented == []


def test_run_youtube_layout_writes_every_stride_frame_with_dataset_ids(tmp_path):
    data = open_dataset("synthetic", tmp_path / "data", layout="youtube", videos=1, frames=16, objects=3, size="48x64")
    run(RunConfig((MethodChoice.of("stcn"),)), data, tmp_path / "run")
    video = data.video("synth-000")
    folder = tmp_path / "run" / "masks" / "Annotations" / "synth-000"
    assert sorted(p.stem for p in folder.iterdir()) == video.frame_names
    last = video.frame_names[-1]
    assert set(np.unique(read_mask(folder / f"{last}.png")).tolist()) <= {0, *video.info.objects.ids}


@pytest.mark.conformance
def test_cli_run_reproduces_a_conformance_case(tmp_path):
    case = shared_path("conformance", "swiftnet", "blackswan-1obj")
    checkpoint = write_checkpoint("swiftnet", tmp_path / "swiftnet_resnet18_old.pth")
    result = cli(
        "run", "--method", "swiftnet", "--set", "mem_every=5", "--checkpoint", str(checkpoint),
        "--dataset", "frames", "--root", str(case / "frames"), "--mask", str(case / "mask0.png"),
        "--out", str(tmp_path / "run"), "--save-probs",
    )
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "run" / "probs" / "frames.npz") as npz:
        prob = npz["prob"]
    case_data = load_case("swiftnet", "blackswan-1obj")
    expected = case_data["prob"]
    assert prob.shape == expected.shape
    assert np.abs(prob - expected).max() <= 1e-4
    # the per-frame records carry the official memory sizes
    frames = pd.read_parquet(tmp_path / "run" / "frames.parquet")
    assert frames["stored_features"].tolist() == case_data["mem_size"].tolist()
    assert frames["matched_features"].tolist() == case_data["mem_size_matched"].tolist()


def test_cli_run_bad_input_is_one_line(tmp_path):
    result = cli("run", "-m", "nosuch", "-d", "davis2016", "--root", str(tmp_path), "-o", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "unknown method 'nosuch'" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    data = tmp_path / "data"
    open_dataset("synthetic", data, layout="davis", videos=1, frames=3, objects=1, size="32x32")
    result = cli("run", "-m", "stcn", "-d", "davis2017", "--root", str(data), "-o", str(tmp_path / "run"), "--set", "top_k")
    assert result.returncode == 2 and "name=value" in result.stderr
    result = cli("run", "-m", "stcn", "-d", "davis2017", "--root", str(data), "-o", str(tmp_path / "run"),
                 "--checkpoint", str(tmp_path / "absent.pth"))
    assert result.returncode == 2 and "absent.pth" in result.stderr
    assert not (tmp_path / "run").exists()
