"""Every command against the bad input a new user meets: one line on stderr, exit 2, no
traceback, nothing half-written (a failed first attempt leaves --out as it was), and the
corrected command then succeeds. The cases of the reliability issue, one test each."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cli
from conformance import synthetic_state_dict
from conftest import ROOT
from data_layouts import make_davis2017
from vosbench import load_run
from vosbench.data import open_dataset
from vosbench.errors import VosbenchError
from vosbench.masks import write_mask


class Payload:
    """Unpickled, it would run a shell command: a checkpoint must never be loaded that way."""

    def __reduce__(self):
        return os.system, ("true",)


def vosbench(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """``vosbench ARGS`` through the console entry, in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["vosbench", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    captured = capsys.readouterr()
    return done.value.code or 0, captured.out, captured.err


def refused(result: tuple[int, str, str], *words: str) -> None:
    code, _, err = result
    assert code == 2, err
    assert err.startswith("vosbench: error: ") and err.count("\n") == 1, err  # one line, not even a blank one
    for word in words:
        assert word in err, err


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Two generated videos of 4 frames, 48x64, two objects (DAVIS 2017 layout)."""
    root = tmp_path_factory.mktemp("hostile") / "data"
    open_dataset("synthetic", root, layout="davis", videos=2, frames=4, objects=2, size="48x64")
    return root


def run_args(data: Path, out: Path, *more: str) -> list[str]:
    return ["run", "-m", "stcn", "-d", "davis2017", "--root", str(data), "-o", str(out), "--no-telemetry", *more]


def copy_of(data: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    return copy


def test_bad_setting_leaves_out_as_it_was_and_the_corrected_command_runs(monkeypatch, capsys, data, tmp_path):
    out = tmp_path / "run"
    refused(vosbench(monkeypatch, capsys, *run_args(data, out, "--set", "mem_every=-1")), "mem_every")
    assert not out.exists()
    out.mkdir()  # an empty folder stays an empty folder
    refused(vosbench(monkeypatch, capsys, *run_args(data, out, "--set", "mem_every=-1", "--overwrite")), "mem_every")
    assert list(out.iterdir()) == []
    code, stdout, _ = vosbench(monkeypatch, capsys, *run_args(data, out, "--set", "mem_every=2"))
    assert code == 0 and "2 sequence(s) segmented" in stdout


@pytest.mark.parametrize("setting", ["tf_sigma=nan", "tf_gain=inf", "tf_xy=-inf"])
def test_non_finite_settings_are_refused(monkeypatch, capsys, data, tmp_path, setting):
    refused(vosbench(monkeypatch, capsys, *run_args(data, tmp_path / "run", "--set", setting)), "not a finite number")
    assert not (tmp_path / "run").exists()


def test_bad_checkpoints_leave_out_as_it_was(monkeypatch, capsys, data, tmp_path):
    out = tmp_path / "run"
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, wrong)
    refused(vosbench(monkeypatch, capsys, *run_args(data, out, "--checkpoint", str(wrong))), str(wrong), "missing")
    state = synthetic_state_dict("stcn")
    name = next(k for k in state if k.endswith("conv1.weight"))
    state[name][0, 0, 0, 0] = float("nan")
    broken = tmp_path / "nan.pth"
    torch.save(state, broken)
    refused(vosbench(monkeypatch, capsys, *run_args(data, out, "--checkpoint", str(broken))), "NaN", name)
    payload = tmp_path / "payload.pth"
    payload.write_bytes(pickle.dumps({"model": Payload()}))
    refused(vosbench(monkeypatch, capsys, *run_args(data, out, "--checkpoint", str(payload))), "posix.system", "refused for safety")
    assert not out.exists()
    state[name][0, 0, 0, 0] = 0.0
    torch.save(state, broken)
    code, stdout, err = vosbench(monkeypatch, capsys, *run_args(data, out, "--checkpoint", str(broken), "--max-frames", "2"))
    assert code == 0, err


def test_out_that_cannot_be_made(monkeypatch, capsys, data, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a regular file\n")
    under = blocker / "out"
    pred = data / "Annotations" / "480p"
    commands = [
        run_args(data, under),
        ["sweep", "-m", "stcn", "--grid", "mem_every=2,3", "-d", "davis2017", "--root", str(data), "-o", str(under)],
        ["eval", str(pred), "--gt", str(pred), "--out", str(under)],
        ["redundancy", "-d", "davis2017", "--root", str(data), "-f", "stcn", "-o", str(under)],
        ["data", "synth", "--out", str(under)],
        ["demo", "--out", str(under)],
        ["merge", str(under), str(tmp_path)],
        ["report", str(tmp_path), "--out", str(under)],
    ]
    for args in commands:
        refused(vosbench(monkeypatch, capsys, *args), str(blocker), "is a file")
    refused(vosbench(monkeypatch, capsys, *run_args(data, blocker)), "exists and is not a folder")
    assert blocker.read_text() == "a regular file\n"


def bomb(path: Path) -> None:
    """A PNG whose header claims 100000 x 100000 pixels (its data is a few bytes)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_decompression_bombs_in_ground_truth_and_predictions(monkeypatch, capsys, data, tmp_path):
    copy = copy_of(data, tmp_path)
    target = copy / "Annotations" / "480p" / "synth-000" / "00002.png"
    saved = target.read_bytes()
    bomb(target)
    out = tmp_path / "run"
    refused(vosbench(monkeypatch, capsys, *run_args(copy, out)), str(target), "decompression bombs")
    assert not out.exists()
    gt = data / "Annotations" / "480p"
    pred = tmp_path / "pred"
    shutil.copytree(gt, pred)
    bomb(pred / "synth-001" / "00001.png")
    refused(vosbench(monkeypatch, capsys, "eval", str(pred), "--gt", str(gt), "--out", str(tmp_path / "ev")),
            str(pred / "synth-001" / "00001.png"), "decompression bombs")
    assert not (tmp_path / "ev").exists()
    target.write_bytes(saved)
    assert vosbench(monkeypatch, capsys, *run_args(copy, out))[0] == 0


def test_davis2016_annotation_with_two_ids_is_refused(monkeypatch, capsys, tmp_path):
    root = make_davis2017(tmp_path / "d16", {"a": (4, [1])}, size=(48, 64))
    (root / "ImageSets" / "2016").mkdir()
    (root / "ImageSets" / "2017" / "val.txt").rename(root / "ImageSets" / "2016" / "val.txt")
    first = root / "Annotations" / "480p" / "a" / "00000.png"
    mask = np.zeros((48, 64), np.uint8)
    mask[5:20, 5:20], mask[25:40, 30:50] = 1, 2
    write_mask(first, mask)
    for t in range(1, 4):
        Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8)).save(root / "Annotations" / "480p" / "a" / f"{t:05d}.png")
    args = ["run", "-m", "swiftnet", "-d", "davis2016", "--root", str(root), "-o", str(tmp_path / "run")]
    refused(vosbench(monkeypatch, capsys, *args), str(first), "DAVIS 2016", "-d davis2017")
    Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8)).save(first)
    assert vosbench(monkeypatch, capsys, *args)[0] == 0
    assert load_run(tmp_path / "run").objects["object"].tolist() == [1]


def test_ground_truth_of_the_wrong_size_is_named_before_segmenting(monkeypatch, capsys, data, tmp_path):
    copy = copy_of(data, tmp_path)
    bad = copy / "Annotations" / "480p" / "synth-000" / "00003.png"
    write_mask(bad, np.zeros((40, 64), np.uint8))
    out = tmp_path / "run"
    refused(vosbench(monkeypatch, capsys, *run_args(copy, out)), str(bad), "40x64", "48x64")
    assert not out.exists()
    code, _, err = vosbench(monkeypatch, capsys, "data", "check", "-d", "davis2017", "--root", str(copy))
    refused((code, "", err), str(bad))
    write_mask(bad, np.zeros((48, 64), np.uint8))
    code, stdout, _ = vosbench(monkeypatch, capsys, "data", "check", "-d", "davis2017", "--root", str(copy))
    assert code == 0 and "2 sequence(s), 8 frames, every file readable" in stdout


def test_empty_sequence_list_is_refused(monkeypatch, capsys, data, tmp_path):
    refused(vosbench(monkeypatch, capsys, *run_args(data, tmp_path / "run", "--sequences", "")), "names no sequence")
    gt = str(data / "Annotations" / "480p")
    refused(vosbench(monkeypatch, capsys, "eval", gt, "--gt", gt, "--out", str(tmp_path / "ev"), "--sequences", " , "),
            "names no sequence")
    assert not (tmp_path / "run").exists() and not (tmp_path / "ev").exists()


def test_frames_too_small_for_the_key_grid(monkeypatch, capsys, tmp_path):
    root = make_davis2017(tmp_path / "tiny", {"a": (3, [1])}, size=(8, 8))
    for method, stride in (("stcn", 16), ("swem", 8)):
        args = ["run", "-m", method, "-d", "davis2017", "--root", str(root), "-o", str(tmp_path / method)]
        refused(vosbench(monkeypatch, capsys, *args), "a: frames of 8x8", "key grid of 1x1", f"{2 * stride} pixels")
        assert not (tmp_path / method).exists()
    args = ["run", "-m", "swem", "-d", "davis2017", "--root", str(root), "-o", str(tmp_path / "fine"), "--set", "tf_stride=4"]
    assert vosbench(monkeypatch, capsys, *args)[0] == 0


def test_load_run_paths_of_what_is_not_there(monkeypatch, capsys, data, tmp_path):
    out = tmp_path / "run"
    assert vosbench(monkeypatch, capsys, *run_args(data, out, "--sequences", "synth-000"))[0] == 0
    run = load_run(out)
    assert run.masks_dir("stcn", "synth-000").is_dir()
    with pytest.raises(VosbenchError, match="no method 'nope'"):
        run.masks_dir("nope", "synth-000")
    with pytest.raises(VosbenchError, match="no sequence 'synth-009'"):
        run.masks_dir("stcn", "synth-009")
    with pytest.raises(VosbenchError, match="without --save-probs"):
        run.probs_path("stcn", "synth-000")


def test_labels_holding_equals_signs_take_their_settings(monkeypatch, capsys, data, tmp_path):
    out = tmp_path / "run"
    args = ["run", "-m", "stcn", "-m", "stcn@mem_every=1", "-d", "davis2017", "--root", str(data), "-o", str(out),
            "--set", "stcn@mem_every=1:mem_every=1", "--sequences", "synth-000", "--no-telemetry"]
    assert vosbench(monkeypatch, capsys, *args)[0] == 0
    methods = json.loads((out / "manifest.json").read_text())["config"]["methods"]
    assert [(m["label"], m["settings"]["mem_every"]) for m in methods] == [("stcn", 5), ("stcn@mem_every=1", 1)]


def test_summary_table_keeps_method_labels_at_80_columns(monkeypatch, capsys, data, tmp_path):
    monkeypatch.setenv("COLUMNS", "80")
    args = ["run", "-m", "swiftnet", "-m", "stcn@mem_every=1", "-d", "davis2017", "--root", str(data), "-o",
            str(tmp_path / "run"), "--sequences", "synth-000", "--no-telemetry"]
    code, stdout, _ = vosbench(monkeypatch, capsys, *args)
    assert code == 0 and "swiftnet " in stdout and "stcn@mem_every=1 " in stdout
    table = [line for line in stdout.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and max(len(line) for line in table) <= 80


def test_data_help_lists_what_it_offers(monkeypatch, capsys):
    code, stdout, _ = vosbench(monkeypatch, capsys, "data", "--help")
    assert code == 0 and "synth" in stdout and "check" in stdout


def test_ctrl_c_says_what_is_kept_and_the_rerun_resumes(data, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, str(ROOT / "cli.py"), *run_args(data, out, "-m", "swem")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    began = time.monotonic()
    while not (out / "parts").exists() and process.poll() is None and time.monotonic() - began < 120:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before Ctrl-C reached it")
    assert process.returncode == 130, err
    assert f"vosbench: interrupted; the sequences finished in {out} are kept; rerun the same command to resume" in err
    assert "Traceback" not in err
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "already done" in done.stdout, done.stderr
