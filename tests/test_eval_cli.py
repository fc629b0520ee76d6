"""``vosbench eval`` from the command line: outputs, and bad input ending in one line on
stderr, exit code 2 and no output files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cli
from conftest import ROOT
from vosbench.eval import Mode
from vosbench.masks import write_mask

H, W = 40, 56


def ramp(t: int) -> np.ndarray:
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[5 + t : 20 + t, 4 + 2 * t : 30 + 2 * t] = 1
    mask[25:35, 40 - t : 50 - t] = 2
    return mask


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Two sequences of 5 frames with objects 1 and 2; predictions shifted by a pixel."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for name in ("a", "b"):
        for t in range(5):
            write_mask(gt / name / f"{t:05d}.png", ramp(t))
            write_mask(pred / name / f"{t:05d}.png", np.roll(ramp(t), 1, axis=1))
    return gt, pred


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The console entry ``cli.main`` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["vosbench", "eval", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return exit_info.value.code or 0, captured.out, captured.err


def test_eval_command_writes_the_tables(tmp_path, folders):
    gt, pred = folders
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "eval", str(pred), "--gt", str(gt), "--out", str(out), "--workers", "2"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "J&F" in done.stdout and "over 4 object(s) in 2 sequence(s) (davis mode" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "global.csv", "global.parquet", "per_frame.csv", "per_frame.parquet", "per_sequence.csv", "per_sequence.parquet",
    ]
    header = (out / "per_frame.csv").read_text().splitlines()[0]
    assert header == "sequence,object,frame,J,F"
    assert (out / "per_sequence.csv").read_text().splitlines()[0] == (
        "sequence,object,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay"
    )


def test_mode_and_sequences_options(monkeypatch, capsys, folders, tmp_path):
    gt, pred = folders
    args = [str(pred), "--gt", str(gt), "--out", str(tmp_path / "o"), "--workers", "1"]
    code, out, _ = run_main(monkeypatch, capsys, *args, "--mode", Mode.YOUTUBE.value, "--sequences", "b")
    assert code == 0 and "over 2 object(s) in 1 sequence(s) (youtube mode" in out
    code, _, err = run_main(monkeypatch, capsys, *args, "--mode", "youtube-vos")
    assert code == 2 and "unknown mode 'youtube-vos'" in err
    assert (tmp_path / "o" / "global.csv").exists()  # the earlier output is left as it was


def break_missing_frame(gt: Path, pred: Path) -> Path:
    (pred / "b" / "00002.png").unlink()
    return pred / "b" / "00002.png"


def break_jpeg_named_png(gt: Path, pred: Path) -> Path:
    path = pred / "a" / "00003.png"
    Image.fromarray(ramp(3) * 100).save(path, format="JPEG")
    return path


def break_saved_as_jpeg(gt: Path, pred: Path) -> Path:
    path = pred / "a" / "00001.png"
    path.rename(path.with_suffix(".jpg"))
    return path


def break_truncated_png(gt: Path, pred: Path) -> Path:
    path = pred / "b" / "00003.png"
    path.write_bytes(path.read_bytes()[:60])
    return path


def break_size(gt: Path, pred: Path) -> Path:
    path = pred / "b" / "00001.png"
    write_mask(path, np.zeros((H, W - 2), dtype=np.uint8))
    return path


def break_unknown_id(gt: Path, pred: Path) -> Path:
    path = pred / "a" / "00002.png"
    mask = ramp(2)
    mask[0, 0] = 5
    write_mask(path, mask)
    return path


def break_empty_sequence(gt: Path, pred: Path) -> Path:
    for png in (gt / "b").iterdir():
        png.unlink()
    return gt / "b"


def break_missing_sequence(gt: Path, pred: Path) -> Path:
    for png in (pred / "a").iterdir():
        png.unlink()
    (pred / "a").rmdir()
    return pred / "a"


def break_corrupt_annotation(gt: Path, pred: Path) -> Path:
    path = gt / "a" / "00000.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    return path


BAD_INPUTS = {
    "missing prediction frame": (break_missing_frame, "prediction frame missing"),
    "jpeg named .png": (break_jpeg_named_png, "not a PNG file"),
    "prediction saved as jpg": (break_saved_as_jpeg, "prediction frame missing (found 00001.jpg; masks must be PNG)"),
    "truncated png": (break_truncated_png, "cannot read mask"),
    "size mismatch": (break_size, "prediction is 54x40 but the annotation"),
    "unknown object id": (break_unknown_id, "holds object ids [5]"),
    "empty sequence folder": (break_empty_sequence, "no .png annotations"),
    "missing prediction folder": (break_missing_sequence, "prediction folder of sequence a not found"),
    "corrupt annotation": (break_corrupt_annotation, "cannot read mask"),
}


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_no_output(monkeypatch, capsys, tmp_path, folders, case, workers):
    gt, pred = folders
    breaker, message = BAD_INPUTS[case]
    culprit = breaker(gt, pred)
    out = tmp_path / "results" / "eval"
    code, _, err = run_main(monkeypatch, capsys, str(pred), "--gt", str(gt), "--out", str(out), "--workers", workers)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(culprit) in lines[0] and message in lines[0], lines[0]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_bad_input_through_the_console_process(tmp_path, folders):
    gt, pred = folders
    culprit = break_size(gt, pred)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "eval", str(pred), "--gt", str(gt), "--out", str(out), "--workers", "2"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and str(culprit) in done.stderr
    assert not out.exists()


def test_sequences_and_split_are_exclusive(monkeypatch, capsys, tmp_path, folders):
    gt, pred = folders
    split = tmp_path / "val.txt"
    split.write_text("a\n")
    code, _, err = run_main(monkeypatch, capsys, str(pred), "--gt", str(gt), "--out", str(tmp_path / "o"),
                            "--sequences", "a", "--split", str(split))
    assert code == 2 and "either --sequences or --split" in err
    code, _, err = run_main(monkeypatch, capsys, str(pred), "--gt", str(gt), "--out", str(tmp_path / "o"),
                            "--split", str(tmp_path / "missing.txt"))
    assert code == 2 and "missing.txt: split file not found" in err
