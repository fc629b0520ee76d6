"""YouTube-VOS 2018/2019 train and valid layouts written here: late objects, ids 2 and 5,
every-5th frames, all frames, valid with and without ``_gt``, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from data_layouts import H, W, colour, make_youtube, objects_mask
from vosbench.data import open_dataset
from vosbench.errors import VosbenchError
from vosbench.masks import write_mask

# "late": object 2 from frame 00000, object 5 from frame 00010; "solo": object 1 from 00005.
VIDEOS = {"late": {2: 0, 5: 10}, "solo": {1: 5}}
STRIDE_NAMES = [f"{t:05d}" for t in range(0, 26, 5)]


def test_valid_without_ground_truth(tmp_path: Path) -> None:
    dataset = open_dataset("youtube2019", make_youtube(tmp_path, "valid", VIDEOS))
    assert dataset.name == "youtube2019-valid" and dataset.sequences == ["late", "solo"]
    video = dataset.video("late")
    assert video.frame_names == STRIDE_NAMES and len(video) == 6
    assert video.info.size == (H, W)
    assert video.info.objects.ids == (2, 5)
    assert video.info.first_frame == {2: 0, 5: 2}
    assert video.output_frames == list(range(6))
    assert video.gt_frames == []
    assert np.array_equal(video.given_mask(0), objects_mask([2]))
    assert video.given_mask(1) is None
    assert np.array_equal(video.given_mask(2), objects_mask([5]))
    assert np.abs(video.frame(3).astype(int) - colour(15)).max() <= 3

    solo = dataset.video("solo")
    assert solo.info.first_frame == {1: 1} and solo.given_mask(0) is None
    assert np.array_equal(solo.given_mask(1), objects_mask([1]))


def test_given_mask_holds_only_the_objects_that_start_there(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS)
    # Some annotations repeat objects given earlier; only the new one is given again.
    write_mask(root / "valid" / "Annotations" / "late" / "00010.png", objects_mask([2, 5]))
    video = open_dataset("youtube2018", root).video("late")
    assert np.array_equal(video.given_mask(2), objects_mask([5]))


def test_valid_with_gt_folder(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS, gt=True)
    video = open_dataset("youtube2018", root).video("late")
    assert video.gt_frames == list(range(6))
    assert np.array_equal(video.gt_mask(1), objects_mask([2]))
    assert np.array_equal(video.gt_mask(4), objects_mask([2, 5]))


def test_all_frames_runs_every_frame_and_scores_the_stride(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS, all_frames=True, gt=True)
    video = open_dataset("youtube2019", root, all_frames=True).video("late")
    assert len(video) == 26 and video.frame_names == [f"{t:05d}" for t in range(26)]
    assert video.output_frames == [0, 5, 10, 15, 20, 25]
    assert video.info.first_frame == {2: 0, 5: 10}
    assert video.given_mask(2) is None
    assert np.array_equal(video.given_mask(10), objects_mask([5]))
    assert video.gt_frames == [0, 5, 10, 15, 20, 25]
    assert np.abs(video.frame(7).astype(int) - colour(7)).max() <= 3


def test_train_annotations_are_ground_truth(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "train", VIDEOS)
    video = open_dataset("youtube2019", root, split="train").video("late")
    assert video.info.first_frame == {2: 0, 5: 2}
    assert video.gt_frames == list(range(6))
    assert np.array_equal(video.gt_mask(5), objects_mask([2, 5]))
    # The train annotation at frame 10 shows both objects; only object 5 starts there.
    assert np.array_equal(video.given_mask(2), objects_mask([5]))
    assert open_dataset("youtube2019", root, split="train").video("solo").gt_frames == [1, 2, 3, 4, 5]


def test_sequence_selection(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS)
    assert open_dataset("youtube2019", root, sequences=["solo"]).sequences == ["solo"]
    with pytest.raises(VosbenchError, match=r"valid/meta\.json: no sequence nope"):
        open_dataset("youtube2019", root, sequences=["nope"])


# --- bad input ------------------------------------------------------------------------


def test_missing_meta(tmp_path: Path) -> None:
    (tmp_path / "valid").mkdir()
    with pytest.raises(VosbenchError, match=r"valid/meta\.json: meta\.json not found"):
        open_dataset("youtube2019", tmp_path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "cannot read meta.json"),
        ('{"video": {}}', "not a YouTube-VOS meta.json"),
        ('{"videos": {"v": {"objects": {"two": {"frames": ["00000"]}}}}}', "not a YouTube-VOS meta.json"),
        ('{"videos": {"v": {"objects": {"300": {"frames": ["00000"]}}}}}', "got ids [300]"),
        ('{"videos": {"v": {"objects": {}}}}', "got ids []"),
        ('{"videos": {"v": {"objects": {"1": {"frames": []}}}}}', "at least one frame"),
    ],
)
def test_bad_meta(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "valid").mkdir()
    (tmp_path / "valid" / "meta.json").write_text(text)
    with pytest.raises(VosbenchError, match=re.escape("valid/meta.json: ") + ".*" + re.escape(message)):
        open_dataset("youtube2019", tmp_path)


def test_video_folder_missing(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS)
    meta = json.loads((root / "valid" / "meta.json").read_text())
    meta["videos"]["ghost"] = meta["videos"]["solo"]
    (root / "valid" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(VosbenchError, match=r"valid/JPEGImages/ghost: frames folder of ghost"):
        open_dataset("youtube2019", root)


def test_all_frames_folder_missing(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS)
    with pytest.raises(VosbenchError, match=r"valid_all_frames/JPEGImages: not found; all_frames needs"):
        open_dataset("youtube2019", root, all_frames=True)


def test_frame_listed_in_meta_but_missing(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS)
    (root / "valid" / "JPEGImages" / "late" / "00020.jpg").unlink()
    with pytest.raises(VosbenchError, match=r"late/00020\.jpg: frame listed in .*meta\.json for object 2 is missing"):
        open_dataset("youtube2019", root).video("late")


def test_first_annotation_missing(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS)
    (root / "valid" / "Annotations" / "late" / "00010.png").unlink()
    with pytest.raises(VosbenchError, match=r"late/00010\.png: annotation where objects first appear not found"):
        open_dataset("youtube2019", root).video("late")


def test_annotation_without_the_object_it_should_give(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS)
    write_mask(root / "valid" / "Annotations" / "late" / "00010.png", objects_mask([2]))
    video = open_dataset("youtube2019", root).video("late")
    with pytest.raises(VosbenchError, match=r"late/00010\.png: objects \[5\] should first appear here"):
        video.given_mask(2)


def test_unknown_object_id_in_annotation(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS)
    write_mask(root / "valid" / "Annotations" / "late" / "00000.png", objects_mask([2, 3]))
    video = open_dataset("youtube2019", root).video("late")
    with pytest.raises(VosbenchError, match=r"late/00000\.png: object ids \[3\] are not among the video's objects \[2, 5\]"):
        video.given_mask(0)


def test_annotation_size_differs(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS)
    write_mask(root / "valid" / "Annotations" / "late" / "00000.png", objects_mask([2], (H + 4, W)))
    with pytest.raises(VosbenchError, match=r"late/00000\.png: annotation is 36x48 but its frames are 32x48"):
        open_dataset("youtube2019", root).video("late").given_mask(0)


def test_gt_annotation_without_frame(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS, gt=True)
    write_mask(root / "valid_gt" / "Annotations" / "late" / "00003.png", objects_mask([2]))
    with pytest.raises(VosbenchError, match=r"valid_gt/Annotations/late/00003\.png: annotation has no frame"):
        open_dataset("youtube2019", root).video("late")


def test_corrupt_frame(tmp_path: Path) -> None:
    root = make_youtube(tmp_path, "valid", VIDEOS)
    path = root / "valid" / "JPEGImages" / "late" / "00005.jpg"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(VosbenchError, match=r"late/00005\.jpg: cannot read image"):
        open_dataset("youtube2019", root).video("late").frame(1)
