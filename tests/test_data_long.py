"""LVOS, MOSE, Long-Time Video and SA-V layouts written here: late and vanishing objects,
sparse ground truth, per-object masks, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_layouts import H, W, colour, make_flat, make_lvos, make_sav, objects_mask
from vosbench.data import open_dataset
from vosbench.errors import VosbenchError
from vosbench.masks import write_mask

# LVOS "walk": object 3 over frames 1..36, object 7 from 11 to 41, object 3 gone at 16 and 21.
LVOS = {"walk": {3: (1, 36), 7: (11, 41)}}


def test_lvos_objects_start_late_and_vanish(tmp_path: Path) -> None:
    dataset = open_dataset("lvos", make_lvos(tmp_path, "valid", LVOS, gone={3: range(16, 22)}))
    assert dataset.name == "lvos-valid" and dataset.sequences == ["walk"] and dataset.protocol == "lvos"
    video = dataset.video("walk")
    assert len(video) == 41 and video.frame_names[0] == "00000001"
    assert video.info.objects.ids == (3, 7) and video.info.first_frame == {3: 0, 7: 10}
    assert np.array_equal(video.given_mask(0), objects_mask([3]))
    assert np.array_equal(video.given_mask(10), objects_mask([7]))  # object 3 is also there, given before
    assert video.given_mask(5) is None
    assert video.gt_frames == list(range(0, 41, 5))
    assert np.array_equal(video.gt_mask(15), objects_mask([7]))  # frame 16: object 3 gone
    assert np.array_equal(video.gt_mask(25), objects_mask([3, 7]))
    assert np.abs(video.frame(12).astype(int) - colour(13)).max() <= 3


def test_lvos_test_split_has_no_ground_truth(tmp_path: Path) -> None:
    video = open_dataset("lvos", make_lvos(tmp_path, "test", LVOS), split="test").video("walk")
    assert video.gt_frames == [] and np.array_equal(video.given_mask(10), objects_mask([7]))


def test_lvos_bad_meta_and_missing_start(tmp_path: Path) -> None:
    root = make_lvos(tmp_path, "valid", LVOS)
    meta = root / "valid" / "valid_meta.json"
    text = meta.read_text()
    meta.write_text('{"videos": {"walk": {"objects": {"3": {"frames": []}}}}}')
    with pytest.raises(VosbenchError, match=r"valid_meta\.json: not a LVOS meta file"):
        open_dataset("lvos", root)
    meta.write_text(text.replace('"start": 11', '"start": 12'))
    with pytest.raises(VosbenchError, match=r"00000012\.png: annotation where object 7 starts not found"):
        open_dataset("lvos", root).video("walk")
    (root / "valid" / "valid_meta.json").unlink()
    with pytest.raises(VosbenchError, match=r"valid_meta\.json: valid_meta\.json not found"):
        open_dataset("lvos", root)


def test_mose_valid_gives_the_first_mask_only(tmp_path: Path) -> None:
    make_flat(tmp_path / "valid", {"cars": (6, [1, 4])}, annotated=1000)
    video = open_dataset("mose", tmp_path).video("cars")
    assert video.info.objects.ids == (1, 4) and video.info.first_frame == {1: 0, 4: 0}
    assert video.gt_frames == [0] and np.array_equal(video.given_mask(0), objects_mask([1, 4]))
    with pytest.raises(VosbenchError, match=r"train/JPEGImages: frames folder not found"):
        open_dataset("mose", tmp_path, split="train")


def test_long_time_video_sparse_ground_truth(tmp_path: Path) -> None:
    dataset = open_dataset("ltv", make_flat(tmp_path, {"blueboy": (31, [1, 2]), "rat": (11, [1])}, annotated=10))
    assert dataset.sequences == ["blueboy", "rat"]
    video = dataset.video("blueboy")
    assert len(video) == 31 and video.gt_frames == [0, 10, 20, 30] and video.gt_folder == tmp_path / "Annotations" / "blueboy"
    with pytest.raises(VosbenchError, match="has no splits"):
        open_dataset("ltv", tmp_path, split="val")


def test_sav_per_object_masks(tmp_path: Path) -> None:
    dataset = open_dataset("sav", make_sav(tmp_path, "val", {"sav_000001": {0: 0, 2: 4}}))
    assert dataset.name == "sav-val" and dataset.protocol == "sav"
    video = dataset.video("sav_000001")
    assert len(video) == 17 and video.info.objects.ids == (1, 3) and video.info.first_frame == {1: 0, 3: 4}
    assert video.gt_frames == [0, 4, 8, 12, 16] and video.gt_folder is None
    assert np.array_equal(video.given_mask(4), objects_mask([3]))
    assert np.array_equal(video.gt_mask(8), objects_mask([1, 3]))


def test_sav_overlap_goes_to_the_larger_id(tmp_path: Path) -> None:
    root = make_sav(tmp_path, "val", {"v": {0: 0, 1: 0}}, length=5)
    full = np.ones((H, W), dtype=bool)
    write_mask(root / "sav_val" / "Annotations_6fps" / "v" / "001" / "00004.png", full)
    assert (open_dataset("sav", root).video("v").gt_mask(4) == 2).all()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda a: (a / "000" / "00000.png").write_bytes(b"junk"), r"000/00000\.png: cannot read mask"),
        (lambda a: (a / "notes.txt").write_text("x"), r"notes\.txt: SA-V annotations hold one folder per object"),
        (lambda a: write_mask(a / "000" / "00004.png", objects_mask([1, 2])), r"more than one object value"),
        (lambda a: write_mask(a / "000" / "00099.png", objects_mask([1])), r"00099\.png: mask has no frame"),
    ],
)
def test_sav_bad_input(tmp_path: Path, damage, message: str) -> None:
    root = make_sav(tmp_path, "val", {"v": {0: 0}}, length=5)
    damage(root / "sav_val" / "Annotations_6fps" / "v")
    with pytest.raises(VosbenchError, match=message):
        video = open_dataset("sav", root).video("v")
        video.gt_mask(0), video.gt_mask(4)


def test_synthetic_lvos_objects_leave_and_come_back(tmp_path: Path) -> None:
    dataset = open_dataset("synthetic", tmp_path, layout="lvos", videos=1, frames=120, objects=3, size="48x80")
    assert dataset.name == "lvos-valid"
    video = dataset.video("synth-000")
    assert len(video) == 120 and video.frame_names[0] == "00000001" and video.gt_frames == list(range(0, 120, 5))
    meta = json.loads((tmp_path / "valid" / "valid_meta.json").read_text())["videos"]["synth-000"]["objects"]
    returns = []
    for object_id, first in video.info.first_frame.items():
        frame_range = meta[str(object_id)]["frame_range"]
        assert frame_range["start"] == first + 1 and frame_range["end"] == 116
        present = [bool((video.gt_mask(i) == object_id).any()) for i in video.gt_frames if i >= first]
        assert present[0]
        gone = present.index(False) if False in present else None
        returns.append(gone is not None and any(present[gone:]))
    assert any(returns)  # some object leaves the annotated frames and comes back


def test_synthetic_mose_objects_leave_and_come_back_as_v2_scores_them(tmp_path: Path) -> None:
    from vosbench.eval.mose import evaluate_mose2

    dataset = open_dataset("synthetic", tmp_path, layout="mose", videos=1, frames=80, objects=3, size="48x80")
    assert dataset.name == "mose-valid"
    video = dataset.video("synth-000")
    assert video.gt_frames == list(range(80)) and video.info.first_frame == {1: 0, 2: 0, 3: 0}
    meta = json.loads((tmp_path / "valid" / "meta.json").read_text())["videos"]["synth-000"]
    assert meta == {"length": 80, "objects": {"1": {}, "2": {}, "3": {}}}
    # the ground truth scored as its own prediction: perfect, and the objects that left
    # have reappearance scores (NaN for an object that never left)
    gt = tmp_path / "valid" / "Annotations"
    per_object = evaluate_mose2(gt, gt, tmp_path / "valid" / "meta.json").per_sequence
    assert (per_object["J"] == 1).all() and (per_object["F"] == 1).all()
    assert per_object["reappear_J"].notna().any() and (per_object["reappear_J"].dropna() == 1).all()


def test_synthetic_long_time_video_has_sparse_ground_truth(tmp_path: Path) -> None:
    dataset = open_dataset("synthetic", tmp_path, layout="ltv", videos=2, frames=61, objects=2, size="48x80")
    assert dataset.name == "long-time-video" and dataset.sequences == ["synth-000", "synth-001"]
    video = dataset.video("synth-001")
    assert len(video) == 61 and video.gt_frames == [0, 20, 40, 60] and video.info.first_frame == {1: 0, 2: 0}
    assert not (tmp_path / "ImageSets").exists()  # the set has no split file


def test_synthetic_sav_objects_enter_late_with_their_own_masks(tmp_path: Path) -> None:
    from vosbench.eval.sav import evaluate_sav

    dataset = open_dataset("synthetic", tmp_path, layout="sav", videos=1, frames=60, objects=3, size="48x80")
    assert dataset.name == "sav-val"
    video = dataset.video("synth-000")
    firsts = video.info.first_frame
    assert video.gt_frames == list(range(0, 60, 4)) and firsts[1] == 0 and max(firsts.values()) > 0
    for object_id, first in firsts.items():
        folder = tmp_path / "sav_val" / "Annotations_6fps" / "synth-000" / f"{object_id - 1:03d}"
        assert sorted(p.stem for p in folder.glob("*.png")) == [f"{t:05d}" for t in range(first, 60, 4)]
        assert (video.gt_mask(first) == object_id).any()  # clearly visible where it is given
    gt = tmp_path / "sav_val" / "Annotations_6fps"
    result = evaluate_sav(gt, gt)
    assert len(result.per_sequence) == 3 and (result.per_sequence["J&F-Mean"] == 1).all()
