"""vosbench.eval.evaluate on small generated folders: the davis and youtube protocols,
0/255 ground truth, sequence selection, and the written tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vosbench.errors import VosbenchError
from vosbench.eval import evaluate
from vosbench.eval.folders import read_split
from vosbench.eval.frame import score_masks
from vosbench.eval.statistics import summarize
from vosbench.masks import write_mask

H, W = 48, 64


def box(y: int, x: int, h: int = 10, w: int = 12) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[y : y + h, x : x + w] = True
    return mask


def labels(*objects: tuple[int, np.ndarray]) -> np.ndarray:
    out = np.zeros((H, W), dtype=np.uint8)
    for object_id, mask in objects:
        out[mask] = object_id
    return out


def write_frames(folder: Path, frames: dict[str, np.ndarray]) -> None:
    for name, mask in frames.items():
        write_mask(folder / f"{name}.png", mask)


def youtube_folders(root: Path) -> tuple[Path, Path]:
    """One sequence annotated every 5th frame: object 3 throughout, object 7 from frame
    10, object 9 only on the last annotated frame. Predictions exist for every frame."""
    gt, pred = root / "gt", root / "pred"
    three = {t: box(2 + t // 2, 3 + t) for t in range(21)}
    seven = {t: box(30, 40 - t) for t in range(21)}
    write_frames(gt / "v", {
        "00000": labels((3, three[0])),
        "00005": labels((3, three[5])),
        "00010": labels((3, three[10]), (7, seven[10])),
        "00015": labels((3, three[15]), (7, seven[15])),
        "00020": labels((3, three[20]), (7, seven[20]), (9, box(40, 2, 4, 4))),
    })
    predicted = {}
    for t in range(21):
        objects = [(3, three[t])]
        if t == 5:
            objects.append((7, box(30, 50)))  # before object 7 is given: not scored
        if t >= 10:
            objects.append((7, seven[t] if t != 20 else box(31, 22)))  # off by 1 px, 2 px on frame 20
        if t == 20:
            objects.append((9, box(40, 2, 4, 4)))
        predicted[f"{t:05d}"] = labels(*objects)
    write_frames(pred / "v", predicted)
    return gt, pred


def test_youtube_mode_scores_each_object_after_its_first_annotated_frame(tmp_path):
    gt, pred = youtube_folders(tmp_path)
    result = evaluate(pred, gt, mode="youtube", workers=1)
    rows = result.per_frame
    assert rows[rows.object == 3].frame.tolist() == ["00005", "00010", "00015", "00020"]
    assert rows[rows.object == 7].frame.tolist() == ["00015", "00020"]
    assert (rows[rows.object == 3][["J", "F"]] == 1.0).all().all()
    last = rows[(rows.object == 7) & (rows.frame == "00020")].iloc[0]
    expected = score_masks(box(30, 20), box(31, 22))
    assert (last.J, last.F) == (expected.j, expected.f) and last.J < 1
    assert result.unscored == (("v", 9),)  # first annotated on the last frame
    assert result.per_sequence.object.tolist() == [3, 7]
    j7 = rows[rows.object == 7].J.to_numpy()
    assert result.per_sequence.iloc[1]["J-Mean"] == summarize(j7)[0]


def test_davis_mode_on_the_same_folder_rejects_an_object_not_in_the_first_frame(tmp_path):
    gt, pred = youtube_folders(tmp_path)
    with pytest.raises(VosbenchError, match=r"00005\.png: holds object ids \[7\].*ground truth has \[3\]"):
        evaluate(pred, gt, mode="davis", workers=1)


def test_youtube_mode_rejects_an_id_that_never_appears_in_the_ground_truth(tmp_path):
    gt, pred = youtube_folders(tmp_path)
    bad = labels((3, box(2, 3)), (5, box(30, 30)))
    write_mask(pred / "v" / "00012.png", bad)  # not an annotated frame: not read
    write_mask(pred / "v" / "00015.png", labels((5, box(30, 30))))
    with pytest.raises(VosbenchError, match=r"v/00015\.png: holds object ids \[5\]"):
        evaluate(pred, gt, mode="youtube", workers=1)


def binary_folders(root: Path) -> tuple[Path, Path]:
    """DAVIS 2016 style: two sequences of 5 frames, ground truth 0/255, predictions 0/1."""
    gt, pred = root / "gt", root / "pred"
    for name, step in (("a", 1), ("b", 3)):
        write_frames(gt / name, {f"{t:05d}": box(5 + t, 5 + step * t).astype(np.uint8) * 255 for t in range(5)})
        write_frames(pred / name, {f"{t:05d}": box(6 + t, 5 + step * t + t % 2).astype(np.uint8) for t in range(5)})
    return gt, pred


def test_davis_mode_with_0_255_ground_truth_scores_frames_1_to_n_minus_2(tmp_path):
    gt, pred = binary_folders(tmp_path)
    result = evaluate(pred, gt, workers=2)
    assert result.per_frame.frame.tolist() == ["00001", "00002", "00003"] * 2
    assert result.per_frame.object.unique().tolist() == [1]
    step = {"a": 1, "b": 3}
    for row in result.per_frame.itertuples():
        t = int(row.frame)
        s = step[row.sequence]
        expected = score_masks(box(5 + t, 5 + s * t), box(6 + t, 5 + s * t + t % 2))
        assert (row.J, row.F) == (expected.j, expected.f)
    per_sequence = result.per_sequence.set_index("sequence")
    for name in ("a", "b"):
        rows = result.per_frame[result.per_frame.sequence == name]
        j_stats, f_stats = summarize(rows.J.to_numpy()), summarize(rows.F.to_numpy())
        assert per_sequence.loc[name, ["J-Mean", "J-Recall", "J-Decay"]].tolist() == list(j_stats)
        assert per_sequence.loc[name, ["F-Mean", "F-Recall", "F-Decay"]].tolist() == list(f_stats)
    g = result.global_.iloc[0]
    assert g["J-Mean"] == np.mean(result.per_sequence["J-Mean"].to_numpy())
    assert g["J&F-Mean"] == (g["J-Mean"] + g["F-Mean"]) / 2


def test_a_prediction_of_255_against_0_255_ground_truth_is_an_unknown_id(tmp_path):
    gt, pred = binary_folders(tmp_path)
    write_mask(pred / "b" / "00002.png", box(6, 6).astype(np.uint8) * 255)
    with pytest.raises(VosbenchError, match=r"b/00002\.png: holds object ids \[255\].*has \[1\]"):
        evaluate(pred, gt, workers=1)


def test_sequences_and_split_select_and_order(tmp_path):
    gt, pred = binary_folders(tmp_path)
    only_b = evaluate(pred, gt, sequences=["b"], workers=1)
    assert only_b.per_sequence.sequence.tolist() == ["b"]
    split = tmp_path / "val.txt"
    split.write_text("b\n\na\n")
    assert read_split(split) == ["b", "a"]
    assert evaluate(pred, gt, sequences=read_split(split), workers=1).per_sequence.sequence.tolist() == ["b", "a"]
    with pytest.raises(VosbenchError, match=r"gt/c: annotation folder of sequence c not found"):
        evaluate(pred, gt, sequences=["a", "c"], workers=1)
    with pytest.raises(VosbenchError, match="unknown mode 'davis2017'"):
        evaluate(pred, gt, mode="davis2017")


def test_written_tables_read_back_exactly(tmp_path):
    gt, pred = youtube_folders(tmp_path)
    result = evaluate(pred, gt, mode="youtube", workers=1)
    out = result.write(tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{t}.{e}" for t in ("per_frame", "per_sequence", "global") for e in ("csv", "parquet")
    )
    for name, table in result.tables().items():
        from_csv = pd.read_csv(out / f"{name}.csv", dtype={"frame": str})
        pd.testing.assert_frame_equal(from_csv, table, check_dtype=False, check_exact=True)
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"), table, check_exact=True)
    # a previous evaluation's folder is replaced; a folder holding anything else is not
    result.write(out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(VosbenchError, match="holds other files \\(notes.txt\\)"):
        result.write(out)
    assert (out / "notes.txt").read_text() == "mine" and (out / "global.csv").exists()


def test_ground_truth_folder_one_level_too_high_gets_a_hint(tmp_path):
    gt, pred = binary_folders(tmp_path)
    with pytest.raises(VosbenchError, match=r"gt: no \.png annotations in the folder; it holds folders"):
        evaluate(pred, tmp_path, workers=1)
