"""``vosbench merge``: shards joined equal a one-shot run; wrong sets of shards are refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from vosbench import load_run
from vosbench.data import open_dataset
from vosbench.errors import VosbenchError
from vosbench.run import RunConfig, Shard, choose_methods, run
from vosbench.run.merge import merge

# what a rerun of the same settings reproduces exactly (timings and process memory differ)
STABLE = ["method", "sequence", "frame", "frame_name", "warmup", "objects", "stored_features", "stored_min",
          "stored_max", "matched_features", "memory_bytes", "J", "F"]


def config(shard=None, **settings):
    methods = choose_methods(["stcn", "swiftnet"], [f"{k}={v}" for k, v in settings.items()])
    return RunConfig(methods, save_probs=True, max_frames=5, shard=Shard.parse(shard) if shard else None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("merge")
    data = open_dataset("synthetic", root / "data", layout="davis", videos=3, frames=5, objects=2, size="64x96")
    run(config(), data, root / "one")
    for i in (1, 2):
        run(config(f"{i}/2"), data, root / f"shard{i}")
    return root, data


def test_shard_split_is_deterministic_and_covers_every_sequence():
    names = ["c", "a", "e", "b", "d"]
    picked = [Shard(i, 3).pick(names) for i in (1, 2, 3)]
    assert picked == [["a", "d"], ["b", "e"], ["c"]]
    for bad in ("0/2", "3/2", "1-2", "x/y"):
        with pytest.raises(VosbenchError, match="i/n"):
            Shard.parse(bad)


def test_merged_shards_equal_a_one_shot_run(runs):
    root, data = runs
    assert json.loads((root / "shard1" / "manifest.json").read_text())["sequences"] == ["synth-000", "synth-002"]
    merge(root / "merged", [root / "shard2", root / "shard1"])
    one, merged = load_run(root / "one"), load_run(root / "merged")
    assert merged.manifest["config"] == one.manifest["config"]
    assert merged.manifest["sequences"] == one.manifest["sequences"] == data.sequences
    assert sorted(s["shard"] for s in merged.manifest["sessions"]) == [1, 2]
    pd.testing.assert_frame_equal(merged.frames[STABLE], one.frames[STABLE])
    pd.testing.assert_frame_equal(merged.objects, one.objects)
    pd.testing.assert_frame_equal(merged.sequences[["method", "sequence", "frames", "stored_features_max", "J&F-Mean"]],
                                  one.sequences[["method", "sequence", "frames", "stored_features_max", "J&F-Mean"]])
    for label in ("stcn", "swiftnet"):
        for video in data:
            ours, theirs = merged.masks_dir(label, video.name), one.masks_dir(label, video.name)
            assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
            for png in theirs.iterdir():
                assert (ours / png.name).read_bytes() == png.read_bytes()
            with np.load(merged.probs_path(label, video.name)) as a, np.load(one.probs_path(label, video.name)) as b:
                assert np.array_equal(a["prob"], b["prob"])


def test_merge_refuses_wrong_sets_of_shards(runs, tmp_path):
    root, data = runs
    with pytest.raises(VosbenchError, match="both shard 1/2"):
        merge(tmp_path / "a", [root / "shard1", root / "shard1"])
    with pytest.raises(VosbenchError, match="shard 2/2 missing"):
        merge(tmp_path / "b", [root / "shard1"])
    with pytest.raises(VosbenchError, match="not a shard"):
        merge(tmp_path / "c", [root / "one", root / "shard1"])
    run(config("2/2", mem_every=2), data, tmp_path / "other2")
    with pytest.raises(VosbenchError, match=r"not a shard of the same run .*mem_every: 5 -> 2"):
        merge(tmp_path / "d", [root / "shard1", tmp_path / "other2"])
    unfinished = tmp_path / "unfinished2"
    shutil.copytree(root / "shard2", unfinished)
    shutil.rmtree(unfinished / "parts" / "swiftnet" / "synth-001")
    with pytest.raises(VosbenchError, match="swiftnet on synth-001 is not finished"):
        merge(tmp_path / "e", [root / "shard1", unfinished])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(VosbenchError, match="not empty"):
        merge(tmp_path / "full", [root / "shard1", root / "shard2"])
    assert not any((tmp_path / name).exists() for name in "abcde")


def test_cli_merge_reports_a_missing_shard_in_one_line(runs, tmp_path):
    root, _ = runs
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "merge", str(tmp_path / "m"), str(root / "shard2")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "shard 1/2 missing" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
