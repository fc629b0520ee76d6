"""LVOS, MOSE v2 and SA-V scoring: known answers worked out by hand from each official
evaluator's source, and (with VOSBENCH_OFFICIAL_EVAL=FOLDER holding lvos-evaluation/,
mose/ (MOSEv2 sam2_rcms/tools) and sav_dataset/ checkouts, run by
VOSBENCH_OFFICIAL_PYTHON, an interpreter with cv2 and skimage) the official code on the
same generated predictions, per object to 1e-12."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vosbench.errors import VosbenchError
from vosbench.eval.lvos import evaluate_lvos, headline, spread
from vosbench.eval.mose import disk_offsets, evaluate_mose2, frame_scores, segments
from vosbench.eval.protocols import evaluate_protocol
from vosbench.eval.sav import evaluate_sav
from vosbench.masks import write_mask

OFFICIAL = os.environ.get("VOSBENCH_OFFICIAL_EVAL")
OFFICIAL_PYTHON = os.environ.get("VOSBENCH_OFFICIAL_PYTHON", sys.executable)
needs_official = pytest.mark.skipif(
    not OFFICIAL, reason="no official evaluators: set VOSBENCH_OFFICIAL_EVAL=FOLDER (lvos-evaluation/, mose/, sav_dataset/)"
)
SIZE = (200, 360)  # diagonal 411.8: 0.008 of it is 3.29, a fractional disk


def scene(frames: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(ground truth, prediction) id masks: object 1 a large drifting ellipse, object 2 a
    small square gone in frames 4..7 and back, object 3 from frame 3; the prediction is
    shifted, noisy, predicts 2 while it is gone (frame 5), misses 3 in frame 9."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: SIZE[0], : SIZE[1]]
    gts, preds = [], []
    for t in range(frames):
        gt = np.zeros(SIZE, np.uint8)
        cy, cx = 90 + 3 * t, 120 + 5 * t
        gt[((yy - cy) / 45.0) ** 2 + ((xx - cx) / 65.0) ** 2 <= 1] = 1
        if not 4 <= t <= 7:
            gt[20 + t : 34 + t, 250:264] = 2
        if t >= 3:
            gt[140:170, 260 - 2 * t : 290 - 2 * t] = 3
        pred = np.roll(gt, (t % 3, 1 - t % 2), axis=(0, 1))
        pred[rng.random(SIZE) < 0.002] = 1
        if t == 5:
            pred[60:70, 300:310] = 2
        if t == 9:
            pred[pred == 3] = 0
        gts.append(gt)
        preds.append(pred)
    return gts, preds


# --- known answers ------------------------------------------------------------------------


def test_fractional_disk_sits_off_centre():
    """skimage disk(1.5): arange(-1.5, 2.5) = [-1.5, -0.5, 0.5, 1.5]; within 1.5 only the
    four (+-0.5, +-0.5) cells, at indices 1..2, and cv2's anchor is index 2: offsets -1, 0."""
    dy, dx = disk_offsets(1.5)
    assert sorted(zip(dy.tolist(), dx.tolist())) == [(-1, -1), (-1, 0), (0, -1), (0, 0)]
    dy, dx = disk_offsets(1.0)  # whole radius: the centred cross
    assert sorted(zip(dy.tolist(), dx.tolist())) == [(-1, 0), (0, -1), (0, 0), (0, 1), (1, 0)]


def test_mose_j_adds_one_to_both_counts():
    gt = np.zeros(SIZE, bool)
    pred = np.zeros(SIZE, bool)
    gt[10:12, 10:12] = True
    pred[10:13, 10:13] = True  # I = 4, U = 9
    assert frame_scores(gt, pred)[0] == 5 / 10
    assert frame_scores(np.zeros(SIZE, bool), np.zeros(SIZE, bool)) == (1.0, 1.0, 1.0)


def test_mose_disappearance_and_reappearance_segments():
    gone, back = segments(np.array([False, True, True, False, False, True, False]))
    assert gone == [slice(1, 3), slice(5, 6)] and back == [slice(3, 5), slice(6, 7)]
    # empty at the first scored frame: that disappearance is not counted, its end is a reappearance
    gone, back = segments(np.array([True, False, True]))
    assert gone == [slice(2, 3)] and back == [slice(1, 2)]


def test_lvos_spread_rounds_the_variance_first():
    assert spread(np.array([1.0, 0.5]), np.array([1.0, 0.5])) == 0.25
    values = np.array([0.9, 0.8, 0.75])  # variance 0.0038889: rounded to 0.0039 before the root
    assert spread(values, values) == math.sqrt(0.0039)


def test_lvos_headline_weighs_seen_and_unseen_alike():
    table = pd.DataFrame(
        {"seen": [True, True, False], "J-Mean": [0.8, 0.6, 0.2], "F-Mean": [0.9, 0.7, 0.4], "V": [0.1, 0.2, 0.3]}
    )
    row = headline(table).iloc[0]
    assert row["J-seen-Mean"] == pytest.approx(0.7) and row["J-unseen-Mean"] == pytest.approx(0.2)
    assert row["J-Mean"] == pytest.approx(0.45) and row["J&F-Mean"] == pytest.approx((0.7 + 0.8 + 0.2 + 0.4) / 4)
    assert row["J&F-objects"] == pytest.approx((1.6 / 3 + 2.0 / 3) / 2)
    assert row["V-Mean"] == pytest.approx((0.15 + 0.3) / 2)
    assert math.isnan(headline(table.assign(seen=True)).iloc[0]["J&F-Mean"])  # no unseen video: NaN, as released


# --- layouts of generated predictions -------------------------------------------------------


def write_lvos(root: Path, frames: int = 12) -> tuple[Path, Path, Path]:
    """valid/{Annotations, valid_meta.json} and predictions of two videos ("fly" unseen);
    scene frame t is frame number 1 + 5 t; object 3 from number 16 to 46."""
    meta: dict = {"videos": {}}
    for seed, video in enumerate(["fly", "walk"]):
        gts, preds = scene(frames, seed)
        for t, (gt, pred) in enumerate(zip(gts, preds)):
            write_mask(root / "valid" / "Annotations" / video / f"{1 + 5 * t:08d}.png", gt)
            write_mask(root / "pred" / video / f"{1 + 5 * t:08d}.png", pred)
        ranges = {1: (1, 1 + 5 * (frames - 1)), 2: (6, 1 + 5 * (frames - 1)), 3: (16, 46)}
        meta["videos"][video] = {
            "objects": {str(k): {"frame_range": {"start": a, "end": b, "frame_nums": (b - a) // 5 + 1}} for k, (a, b) in ranges.items()}
        }
    (root / "valid" / "valid_meta.json").write_text(json.dumps(meta))
    (root / "unseen_videos.txt").write_text("fly\n")
    (root / "unsupervised_videos.txt").write_text("")
    return root / "valid", root / "pred", root / "valid" / "valid_meta.json"


def write_mose(root: Path, frames: int = 12) -> tuple[Path, Path, Path]:
    meta: dict = {"videos": {}}
    for seed, video in enumerate(["crowd", "road"]):
        gts, preds = scene(frames, seed)
        for t, (gt, pred) in enumerate(zip(gts, preds)):
            write_mask(root / "Annotations" / video / f"{t:05d}.png", gt)
            write_mask(root / "pred" / video / f"{t:05d}.png", pred)
        meta["videos"][video] = {"length": frames, "height": SIZE[0], "width": SIZE[1], "objects": {"1": {}, "2": {}, "3": {}}}
    (root / "meta.json").write_text(json.dumps(meta))
    return root / "Annotations", root / "pred", root / "meta.json"


def write_sav(root: Path, frames: int = 12, labels: bool = False) -> tuple[Path, Path]:
    """Annotations_6fps-style ground truth (object 3's folder starts at frame 3) and
    predictions per object (the official layout) or as id masks (``labels``)."""
    for seed, video in enumerate(["sav_000001", "sav_000002"]):
        gts, preds = scene(frames, seed)
        for t, (gt, pred) in enumerate(zip(gts, preds)):
            for k in (1, 2, 3):
                if k == 3 and t < 3:
                    continue
                write_mask(root / "gt" / video / f"{k - 1:03d}" / f"{4 * t:05d}.png", gt == k)
                if not labels:
                    write_mask(root / "pred" / video / f"{k - 1:03d}" / f"{4 * t:05d}.png", pred == k)
            if labels:
                write_mask(root / "pred" / video / f"{4 * t:05d}.png", pred)
    return root / "gt", root / "pred"


def test_lvos_scores_each_object_over_its_range(tmp_path: Path):
    split, pred, meta = write_lvos(tmp_path)
    result = evaluate_lvos(pred, split / "Annotations", meta, unseen=["fly"])
    table = result.per_sequence.set_index(["sequence", "object"])
    frames = result.per_frame.groupby(["sequence", "object"])["frame"].apply(list)
    # object 3 over 16..46: 16 given, 46 is the range's end (excluded), so 21..41 are scored
    assert frames[("walk", 3)] == [f"{n:08d}" for n in (21, 26, 31, 36, 41)]
    assert frames[("walk", 1)][0] == "00000006" and frames[("walk", 1)][-1] == f"{1 + 5 * 10:08d}"
    assert not table.loc[("fly", 1), "seen"] and table.loc[("walk", 1), "seen"]
    assert np.isfinite(result.global_["J&F-Mean"].iloc[0])
    # object 2 is gone in frames 21..36 and predicted at number 26: J is 0 there, 1 elsewhere when absent
    walk2 = result.per_frame[(result.per_frame["sequence"] == "walk") & (result.per_frame["object"] == 2)].set_index("frame")
    assert walk2.loc["00000026", "J"] == 0.0 and walk2.loc["00000021", "J"] == 1.0


def test_lvos_frame_nums_larger_than_the_range_counts_zeros(tmp_path: Path):
    split, pred, meta = write_lvos(tmp_path)
    base = evaluate_lvos(pred, split / "Annotations", meta).per_sequence.set_index(["sequence", "object"])
    data = json.loads(meta.read_text())
    data["videos"]["walk"]["objects"]["3"]["frame_range"]["frame_nums"] = 9  # 7 + 2 slots never filled
    meta.write_text(json.dumps(data))
    wider = evaluate_lvos(pred, split / "Annotations", meta).per_sequence.set_index(["sequence", "object"])
    assert wider.loc[("walk", 3), "J-Mean"] == pytest.approx(base.loc[("walk", 3), "J-Mean"] * 5 / 7)
    data["videos"]["walk"]["objects"]["3"]["frame_range"]["frame_nums"] = 5
    meta.write_text(json.dumps(data))
    with pytest.raises(VosbenchError, match="frame_nums 5 is too small"):
        evaluate_lvos(pred, split / "Annotations", meta)


def test_lvos_missing_prediction_is_one_line(tmp_path: Path):
    split, pred, meta = write_lvos(tmp_path)
    (pred / "walk" / "00000021.png").unlink()
    with pytest.raises(VosbenchError, match=r"walk/00000021\.png: prediction frame missing"):
        evaluate_protocol("lvos", pred, split / "Annotations", meta=meta)
    with pytest.raises(VosbenchError, match="the lvos mode needs --meta"):
        evaluate_protocol("lvos", pred, split / "Annotations")


def test_mose_scores_every_object_on_every_inner_frame(tmp_path: Path):
    gt, pred, meta = write_mose(tmp_path)
    result = evaluate_mose2(pred, gt, meta)
    assert len(result.per_frame) == 2 * 3 * 10  # frames 1..10 of 12, all three objects
    row = result.per_sequence.set_index(["sequence", "object"]).loc[("road", 2)]
    assert np.isfinite(row["disappear_J"]) and np.isfinite(row["reappear_J"])
    assert math.isnan(result.per_sequence.set_index(["sequence", "object"]).loc[("road", 1), "disappear_J"])
    # without meta.json the objects come from the annotations: the same numbers
    pd.testing.assert_frame_equal(evaluate_mose2(pred, gt).per_sequence, result.per_sequence)
    (gt / "road" / "00011.png").unlink()
    with pytest.raises(VosbenchError, match=r"road: 11 annotations but .*meta\.json gives length 12"):
        evaluate_mose2(pred, gt, meta)


def test_sav_reads_per_object_and_id_mask_predictions_alike(tmp_path: Path):
    gt, pred = write_sav(tmp_path / "a")
    _, labels = write_sav(tmp_path / "b", labels=True)
    per_object = evaluate_sav(pred, gt).per_sequence
    pd.testing.assert_frame_equal(evaluate_sav(labels, gt).per_sequence, per_object)
    assert len(per_object) == 6 and per_object["J-Mean"].between(0, 1).all()


def test_sav_counts_frames_from_the_first_non_empty_one(tmp_path: Path):
    """Object 000: empty on scored frames 4 and 8 (both masks), then a block predicted exactly."""
    folder = tmp_path / "gt" / "v" / "000"
    block = np.zeros((50, 60), bool)
    block[10:20, 10:20] = True
    half = block.copy()
    half[15:20] = False
    for t, mask in enumerate([block, np.zeros_like(block), np.zeros_like(block), block, block, block]):
        write_mask(folder / f"{4 * t:05d}.png", mask)
        write_mask(tmp_path / "pred" / "v" / "000" / f"{4 * t:05d}.png", half if t == 4 else mask)
    result = evaluate_sav(tmp_path / "pred", tmp_path / "gt")
    assert result.per_frame["frame"].tolist() == ["00012", "00016"]  # 00000 and 00020 are first and last
    assert result.per_sequence["J-Mean"].iloc[0] == (1.0 + 0.5) / 2
    # an object whose ground truth is empty on every scored frame is unscored (the official fails)
    for t in range(3):
        write_mask(tmp_path / "gt" / "v" / "001" / f"{4 * t:05d}.png", np.zeros_like(block))
        write_mask(tmp_path / "pred" / "v" / "001" / f"{4 * t:05d}.png", np.zeros_like(block))
    assert evaluate_sav(tmp_path / "pred", tmp_path / "gt").unscored == (("v", 2),)


def test_eval_command_takes_the_dataset_protocol(tmp_path: Path, monkeypatch, capsys):
    import cli

    split, pred, meta = write_lvos(tmp_path)
    args = [str(pred), "--gt", str(split / "Annotations"), "--out", str(tmp_path / "out"), "-d", "lvos",
            "--meta", str(meta), "--unseen", str(tmp_path / "unseen_videos.txt")]
    monkeypatch.setattr(sys, "argv", ["vosbench", "eval", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert (exit_info.value.code or 0) == 0
    assert "(lvos mode" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "out" / "global.csv")
    assert list(table.columns)[:3] == ["J&F-Mean", "J&F-objects", "J-Mean"]
    monkeypatch.setattr(sys, "argv", ["vosbench", "eval", *args[:-4], "--out", str(tmp_path / "o2")])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2 and "the lvos mode needs --meta" in capsys.readouterr().err


# --- the official evaluators on the same predictions ------------------------------------------


def run_official(*args: str) -> dict:
    done = subprocess.run(
        [OFFICIAL_PYTHON, str(Path(__file__).with_name("official_eval.py")), *args],
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


@needs_official
def test_lvos_matches_lvos_evaluation(tmp_path: Path):
    split, pred, meta = write_lvos(tmp_path)
    official = run_official("lvos", str(Path(OFFICIAL) / "lvos-evaluation"), str(split), str(pred), str(tmp_path))
    ours = evaluate_lvos(pred, split / "Annotations", meta, unseen=["fly"]).per_sequence
    assert len(official) == len(ours) == 6
    for row in ours.itertuples():
        index = list(json.loads(meta.read_text())["videos"][row.sequence]["objects"]).index(str(row.object))
        j, f, v = official[f"{row.sequence}_{index + 1}"]
        assert abs(row._4 - j) <= 1e-12 and abs(row._5 - f) <= 1e-12 and abs(row.V - v) <= 1e-12, (row, j, f, v)


@needs_official
def test_mose2_matches_score_py(tmp_path: Path):
    gt, pred, meta = write_mose(tmp_path)
    official = run_official("mose", str(Path(OFFICIAL) / "mose"), str(meta), str(gt), str(pred))
    ours = evaluate_mose2(pred, gt, meta).per_sequence
    assert len(official) == len(ours) == 6
    for row in ours.to_dict("records"):
        j, f_new, f, dj, df, rj, rf = official[f"{row['sequence']}_{row['object']}"]
        expected = {"J": j, "F_new": f_new, "F": f, "disappear_J": dj, "disappear_F_new": df, "reappear_J": rj, "reappear_F_new": rf}
        for column, value in expected.items():
            if value is None:
                assert math.isnan(row[column]), (row, column)
            else:
                assert abs(row[column] - value) <= 1e-12, (row, column, value)
    # the frames where F and F_new differ were reached, and the fractional disk decided some
    assert (ours["F"] != ours["F_new"]).any()


@needs_official
def test_sav_matches_sav_evaluator(tmp_path: Path):
    gt, pred = write_sav(tmp_path)
    official = run_official("sav", str(Path(OFFICIAL) / "sav_dataset"), str(gt), str(pred))
    ours = evaluate_sav(pred, gt).per_sequence
    assert len(official) == len(ours) == 6
    for row in ours.to_dict("records"):
        j, f = official[f"{row['sequence']}_{row['object'] - 1:03d}"]
        assert abs(row["J-Mean"] * 100 - j) <= 1e-10 and abs(row["F-Mean"] * 100 - f) <= 1e-10, (row, j, f)
