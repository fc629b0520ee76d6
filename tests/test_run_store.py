"""The run store end to end: real DAVIS 2016 with the three training-free methods in one
run, YouTube-VOS layout with late objects, stored features by each memory rule, resume
after SIGKILL, settings checks, telemetry switched off, tables rebuilt from parts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pandas as pd
import pytest

from conformance import load_case, write_checkpoint
from conftest import ROOT, shared_path
from methods.base import STAGES
from vosbench import load_run
from vosbench.data import open_dataset
from vosbench.errors import VosbenchError
from vosbench.eval import evaluate
from vosbench.masks import read_mask
from vosbench.run import RunConfig, choose_methods, run
from vosbench.run.records import COLUMNS

GPU_COLUMNS = ["gpu_used_bytes", "gpu_process_bytes", "gpu_peak_bytes", "torch_allocated_bytes",
               "torch_reserved_bytes", "torch_peak_bytes"]


def swiftnet_sizes(frames: int, grid: int, every: int) -> tuple[list[int], list[int]]:
    """Stored and matched memory columns per object after each frame, by the released
    SwiftNet rule (conformance README): frame 0 is stored in full once frame 1 is
    segmented; frame s = k * every > 0 adds ceil(grid / 10) novel positions once frame
    s + 1 is segmented; frame t is matched against the stored memory plus frame t - 1."""
    added = -(-grid // 10)
    stored, matched = [], []
    for t in range(frames):
        before = 0 if t < 2 else grid + added * len([s for s in range(every, t - 1, every)])
        matched.append(0 if t == 0 else before + grid)
        stored.append(0 if t == 0 else grid + added * len([s for s in range(every, t, every)]))
    return stored, matched


@pytest.mark.parametrize("case, every", [("blackswan-1obj", 5), ("car-shadow-2obj", 3)])
def test_swiftnet_rule_reproduces_the_conformance_memory_sizes(case, every):
    expected = load_case("swiftnet", case)
    grid = int(expected["mem_size_stored"][1])
    stored, matched = swiftnet_sizes(len(expected["mem_size"]), grid, every)
    assert stored == expected["mem_size_stored"].tolist() == expected["mem_size"].tolist()
    assert matched == expected["mem_size_matched"].tolist()


def test_davis2016_three_training_free_methods_in_one_run(davis2016, tmp_path):
    data = open_dataset("davis2016", davis2016, sequences=["blackswan", "car-shadow"])
    methods = choose_methods(["stcn", "swem", "swiftnet"], ["stcn:mem_every=2", "swiftnet:mem_every=2"])
    out = tmp_path / "run"
    report = run(RunConfig(methods, max_frames=4), data, out)
    assert len(report.segmented) == 6 and report.skipped == []

    manifest = json.loads((out / "manifest.json").read_text())
    assert [m["label"] for m in manifest["config"]["methods"]] == ["stcn", "swem", "swiftnet"]
    assert manifest["layout"]["nested"] and manifest["sequences"] == ["blackswan", "car-shadow"]
    session = manifest["sessions"][0]
    assert session["environment"]["packages"]["torch"] and "git" in session["environment"]
    gpu = session["telemetry"]["gpu"]
    assert gpu["nvml"] is False and "cpu" in gpu["reason"]  # why the GPU columns are null

    for label in ("stcn", "swem", "swiftnet"):
        for video in data:
            folder = out / "masks" / label / video.name
            assert sorted(p.name for p in folder.iterdir()) == [f"{i:05d}.png" for i in range(4)]
            assert np.array_equal(read_mask(folder / "00000.png"), video.given_mask(0))
            assert set(np.unique(read_mask(folder / "00002.png")).tolist()) <= {0, 1}

    frames = pd.read_parquet(out / "frames.parquet")
    assert list(frames.columns) == list(COLUMNS) and len(frames) == 3 * 2 * 4
    assert frames["warmup"].tolist() == [i == 0 for i in frames["frame"]]
    stage_sum = frames[[f"{s}_ms" for s in STAGES]].sum(axis=1)
    assert (frames["step_ms"] > 0).all() and (stage_sum <= frames["step_ms"] + 1e-6).all()
    assert frames[GPU_COLUMNS].isna().all().all() and frames["rss_bytes"].notna().all()
    assert (frames["objects"] == 1).all()

    # stored features, per object, by each memory rule
    def stored(label, sequence, column="stored_max"):
        rows = frames[(frames["method"] == label) & (frames["sequence"] == sequence)]
        return rows[column].astype(int).tolist()

    swem_sizes = load_case("swem", "blackswan-1obj")["mem_size"][:4].tolist()  # num_bases 128, as here
    for sequence in ("blackswan", "car-shadow"):
        grid = stored("stcn", sequence)[0]
        assert stored("stcn", sequence) == [grid, grid, 2 * grid, 2 * grid]  # frames 0 and 2; never the last
        assert stored("swem", sequence) == swem_sizes and len(set(swem_sizes[1:])) == 1  # constant once filled
        # SwiftNet's own grid: its training-free stride over the 480x854 frames
        stride = next(m["settings"]["tf_stride"] for m in manifest["config"]["methods"] if m["label"] == "swiftnet")
        expected_stored, expected_matched = swiftnet_sizes(4, -(-480 // stride) * -(-854 // stride), 2)
        assert stored("swiftnet", sequence) == expected_stored
        assert stored("swiftnet", sequence, "matched_features") == expected_matched

    # scored like davis2017-evaluation: every frame but the first and the last
    assert frames.loc[frames["frame"].isin([1, 2]), ["J", "F"]].notna().all().all()
    assert frames.loc[frames["frame"].isin([0, 3]), ["J", "F"]].isna().all().all()
    objects = pd.read_parquet(out / "objects.parquet")
    sequences = pd.read_parquet(out / "sequences.parquet")
    summary = pd.read_csv(out / "summary.csv")
    assert len(objects) == 6 and len(sequences) == 6 and summary["method"].tolist() == ["stcn", "swem", "swiftnet"]
    for row in sequences.to_dict("records"):
        scored = frames[(frames["method"] == row["method"]) & (frames["sequence"] == row["sequence"])]
        assert row["frames"] == 4 and row["stored_features_max"] == scored["stored_features"].max()
        assert row["J-Mean"] == pytest.approx(scored["J"].mean())  # one object: its mean over scored frames
    for row in summary.to_dict("records"):
        mine = objects[objects["method"] == row["method"]]
        assert row["J-Mean"] == pytest.approx(mine["J-Mean"].mean())
        assert row["J&F-Mean"] == pytest.approx((mine["J-Mean"].mean() + mine["F-Mean"].mean()) / 2)
        assert row["fps"] > 0 and row["fps_io"] <= row["fps"]
    loaded = load_run(out)
    pd.testing.assert_frame_equal(loaded.frames, frames)
    assert loaded.masks_dir("swem", "blackswan") == out / "masks" / "swem" / "blackswan"


def test_youtube_layout_with_late_objects_and_non_consecutive_ids(tmp_path):
    data = open_dataset("synthetic", tmp_path / "data", layout="youtube", videos=2, frames=21, objects=3, size="64x96")
    assert any(max(v.info.first_frame.values()) > 0 for v in data)
    methods = choose_methods(["stcn", "swiftnet"], ["tf_stride=8"])
    out = tmp_path / "run"
    run(RunConfig(methods), data, out)
    frames = pd.read_parquet(out / "frames.parquet")
    objects = pd.read_parquet(out / "objects.parquet")
    for label in ("stcn", "swiftnet"):
        with zipfile.ZipFile(out / "masks" / f"{label}.zip") as archive:
            names = set(archive.namelist())
        for video in data:
            ids = video.info.objects.ids
            assert ids != tuple(range(1, len(ids) + 1))
            folder = out / "masks" / label / "Annotations" / video.name
            assert sorted(p.stem for p in folder.iterdir()) == video.frame_names
            assert {f"Annotations/{video.name}/{n}.png" for n in video.frame_names} <= names
            for name in video.frame_names:
                assert set(np.unique(read_mask(folder / f"{name}.png")).tolist()) <= {0, *ids}
            rows = frames[(frames["method"] == label) & (frames["sequence"] == video.name)]
            first = video.info.first_frame
            assert rows["objects"].tolist() == [sum(f <= i for f in first.values()) for i in range(len(video))]
            # no object yet: nothing stored, no per-object extremes
            assert rows.loc[rows["objects"] == 0, "stored_features"].eq(0).all()
            assert rows.loc[rows["objects"] == 0, "stored_max"].isna().all()
        # the joined scores are the evaluator's, in youtube mode
        reference = evaluate(out / "masks" / label / "Annotations", tmp_path / "data" / "valid_gt" / "Annotations",
                             mode="youtube", workers=1).per_sequence
        mine = objects[objects["method"] == label].drop(columns="method").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, reference, check_dtype=False)


def test_conformance_checkpoint_run_records_swiftnet_memory_sizes(tmp_path):
    case = shared_path("conformance", "swiftnet", "car-shadow-2obj")
    expected = load_case("swiftnet", "car-shadow-2obj")
    checkpoint = write_checkpoint("swiftnet", tmp_path / "swiftnet.pth")
    data = open_dataset("frames", case / "frames", mask=case / "mask0.png")
    methods = choose_methods(["swiftnet"], ["mem_every=3"], [str(checkpoint)])
    run(RunConfig(methods), data, tmp_path / "run")
    frames = load_run(tmp_path / "run").frames
    assert frames["stored_max"].astype(int).tolist() == expected["mem_size"].tolist()
    assert frames["stored_min"].astype(int).tolist() == expected["mem_size"].tolist()
    assert frames["stored_features"].astype(int).tolist() == (2 * expected["mem_size_stored"]).tolist()
    assert frames["matched_features"].astype(int).tolist() == (2 * expected["mem_size_matched"]).tolist()
    assert frames[["J", "F"]].isna().all().all()  # a folder of frames has no ground truth


def test_method_labels_settings_and_checkpoints():
    stcn, tuned, swem = choose_methods(
        ["stcn", "stcn@every10", "swem"], ["tf_stride=8", "stcn@every10:mem_every=10", "swem:input_size=240x432"]
    )
    assert (tuned.name, tuned.label, tuned.settings["mem_every"], stcn.settings["mem_every"]) == ("stcn", "stcn@every10", 10, 5)
    assert stcn.settings["tf_stride"] == tuned.settings["tf_stride"] == swem.settings["tf_stride"] == 8
    assert swem.settings["input_size"] == "240x432"
    (only,) = choose_methods(["swiftnet"], [], ["/some/where/swiftnet.pth"])
    assert only.checkpoint == "/some/where/swiftnet.pth"
    for methods, settings, checkpoints, message in [
        (["stcn", "stcn"], [], [], "given twice"),
        (["stcn"], ["swem:num_bases=8"], [], "no --method labelled 'swem'"),
        (["stcn", "swem"], ["max_frames=3"], [], "swem has no parameter 'max_frames'"),
        (["stcn", "swem"], [], ["/a.pth"], "LABEL:PATH"),
        (["stcn"], ["top_k"], [], "name=value"),
        (["st cn"], [], [], "NAME@TAG"),
        (["nosuch"], [], [], "unknown method 'nosuch'"),
    ]:
        with pytest.raises(VosbenchError, match=message):
            choose_methods(methods, settings, checkpoints)


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, cwd=ROOT, **kwargs)


def snapshot(folder) -> dict:
    """inode and modification time of every file under ``folder``."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_sigkill_after_the_first_sequence_then_rerun_recomputes_nothing_finished(tmp_path):
    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=4, frames=16, objects=2, size="80x128")
    out = tmp_path / "run"
    args = ["run", "-m", "stcn", "-d", "davis2017", "--root", str(tmp_path / "data"), "-o", str(out), "--save-probs"]
    process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first_part = out / "parts" / "stcn" / "synth-000" / "frames.parquet"
    deadline = time.monotonic() + 180
    while not first_part.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert first_part.exists(), process.stderr.read().decode()
    process.stderr.close()

    # after the kill: every sequence with a part is complete and readable; none other counts
    done = [v.name for v in data if (out / "parts" / "stcn" / v.name / "frames.parquet").is_file()]
    assert "synth-000" in done and len(done) < 4, "the kill came too late to interrupt anything"
    assert not (out / "frames.parquet").exists()  # stale tables were dropped when the run began
    for name in done:
        assert len(list((out / "masks" / name).glob("*.png"))) == 16
        with np.load(out / "probs" / f"{name}.npz") as npz:
            assert npz["prob"].shape == (16, 3, 80, 128)
    partial = load_run(out)  # tables built from the parts
    assert sorted(partial.frames["sequence"].unique()) == done and len(partial.frames) == 16 * len(done)
    for leftover in out.glob("masks/.*"):
        pytest.fail(f"a half-written sequence outside the staging area: {leftover}")

    kept = snapshot(out / "parts" / "stcn" / "synth-000") | snapshot(out / "masks" / "synth-000")
    kept[out / "probs" / "synth-000.npz"] = snapshot(out / "probs")[out / "probs" / "synth-000.npz"]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    assert f"{4 - len(done)} sequence(s) segmented, {len(done)} already done" in result.stdout
    for path, stamp in kept.items():
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp, f"{path} was rewritten"
    final = load_run(out)
    assert len(final.frames) == 4 * 16 and final.sequences["sequence"].tolist() == [v.name for v in data]
    assert final.frames["J"].notna().sum() == 4 * 14 and not (out / ".staging").exists()
    for video in data:
        assert len(list((out / "masks" / video.name).glob("*.png"))) == 16


def test_rerun_with_other_settings_fails_and_overwrite_redoes(tmp_path):
    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=2, frames=5, objects=1, size="48x64")
    out = tmp_path / "run"
    run(RunConfig(choose_methods(["stcn"])), data, out)
    part = out / "parts" / "stcn" / "synth-001" / "frames.parquet"
    stamp = part.stat().st_mtime_ns
    with pytest.raises(VosbenchError, match=r"other settings \(methods\[0\]\.settings\.mem_every: 5 -> 3\)"):
        run(RunConfig(choose_methods(["stcn"], ["mem_every=3"])), data, out)
    with pytest.raises(VosbenchError, match="max_frames: null -> 3"):
        run(RunConfig(choose_methods(["stcn"]), max_frames=3), data, out)
    assert run(RunConfig(choose_methods(["stcn"])), data, out).segmented == []
    assert part.stat().st_mtime_ns == stamp
    report = run(RunConfig(choose_methods(["stcn"])), data, out, overwrite=True)
    assert report.segmented == [("stcn", "synth-000"), ("stcn", "synth-001")]
    assert part.stat().st_mtime_ns != stamp and len(load_run(out).frames) == 10
    assert len(json.loads((out / "manifest.json").read_text())["sessions"]) == 3  # the refused ones wrote nothing


def test_a_folder_that_is_not_a_run_is_left_alone(tmp_path):
    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=1, frames=3, objects=1, size="32x32")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(VosbenchError, match="not a run directory"):
        run(RunConfig(choose_methods(["stcn"])), data, tmp_path / "busy")
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]  # not even a lock file


def test_telemetry_off_and_no_eval_keep_only_host_times(tmp_path):
    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=1, frames=5, objects=2, size="48x64")
    out = tmp_path / "run"
    run(RunConfig(choose_methods(["swem"], ["num_bases=16", "top_l=8"]), telemetry=False, evaluate=False), data, out)
    frames = load_run(out).frames
    assert (frames["step_ms"] > 0).all() and (frames["load_ms"] > 0).all() and (frames["write_ms"] > 0).all()
    nulls = [f"{s}_ms" for s in STAGES] + ["stored_features", "memory_bytes", "rss_bytes", *GPU_COLUMNS, "J", "F"]
    assert frames[nulls].isna().all().all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sessions"][0]["telemetry"]["telemetry"] is False
    assert load_run(out).objects.empty


def test_load_run_rebuilds_missing_tables_from_the_parts(tmp_path):
    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=2, frames=5, objects=1, size="48x64")
    out = tmp_path / "run"
    run(RunConfig(choose_methods(["stcn", "stcn@every2"], ["stcn@every2:mem_every=2"])), data, out)
    before = load_run(out)
    for name in ("frames.parquet", "objects.parquet", "sequences.parquet", "summary.csv"):
        (out / name).unlink()
    after = load_run(out)
    for name in ("frames", "objects", "sequences", "summary"):
        pd.testing.assert_frame_equal(getattr(after, name), getattr(before, name))
    assert after.masks_dir("stcn@every2", "synth-000") == out / "masks" / "stcn@every2" / "synth-000"
    stored = after.frames.groupby("method")["stored_features"].max()
    assert stored["stcn@every2"] == 2 * stored["stcn"]  # frames 0 and 2 (4 is the last) against frame 0
