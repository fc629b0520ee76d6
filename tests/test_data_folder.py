"""The plain folder of frames, and ``open_dataset``'s own checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_layouts import H, W, make_davis2017, objects_mask, write_frame
from vosbench.data import KINDS, open_dataset
from vosbench.errors import VosbenchError
from vosbench.masks import write_mask


def png_frames(folder: Path, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(count)]
    folder.mkdir(parents=True, exist_ok=True)
    for t, rgb in enumerate(frames):
        Image.fromarray(rgb).save(folder / f"frame_{t:03d}.png")
    return frames


def test_png_frames_in_name_order_with_object_ids(tmp_path: Path) -> None:
    frames = png_frames(tmp_path / "clip", 4)
    write_mask(tmp_path / "first.png", objects_mask([3, 7]))
    dataset = open_dataset("frames", tmp_path / "clip", mask=tmp_path / "first.png")
    assert dataset.sequences == ["clip"]
    video = dataset.video("clip")
    assert video.frame_names == [f"frame_{t:03d}" for t in range(4)]
    assert video.info.objects.ids == (3, 7) and video.info.first_frame == {3: 0, 7: 0}
    for t in range(4):
        assert np.array_equal(video.frame(t), frames[t])
    assert np.array_equal(video.given_mask(0), objects_mask([3, 7]))
    assert video.given_mask(1) is None and video.gt_frames == []


def test_jpeg_frames_and_a_0_255_mask_inside_the_folder(tmp_path: Path) -> None:
    for t in range(3):
        write_frame(tmp_path / f"{t:04d}.JPG", t)
    Image.fromarray(objects_mask([1]) * 255, mode="L").save(tmp_path / "mask.png")
    video = open_dataset("frames", tmp_path, mask=tmp_path / "mask.png").video(tmp_path.name)
    assert video.frame_names == ["0000", "0001", "0002"]  # the mask is not a frame
    assert video.info.objects.ids == (1,)
    assert np.array_equal(video.given_mask(0), objects_mask([1]))


def test_folder_bad_input(tmp_path: Path) -> None:
    png_frames(tmp_path / "clip", 2)
    with pytest.raises(VosbenchError, match=r"clip: a folder of frames needs mask="):
        open_dataset("frames", tmp_path / "clip")
    with pytest.raises(VosbenchError, match=r"nothere\.png: first-frame mask not found"):
        open_dataset("frames", tmp_path / "clip", mask=tmp_path / "nothere.png")
    write_mask(tmp_path / "wide.png", objects_mask([1], (H, W + 8)))
    video = open_dataset("frames", tmp_path / "clip", mask=tmp_path / "wide.png").video("clip")
    with pytest.raises(VosbenchError, match=r"wide\.png: annotation is 32x56 but its frames are 32x48"):
        video.given_mask(0)
    (tmp_path / "empty").mkdir()
    write_mask(tmp_path / "m.png", objects_mask([1]))
    with pytest.raises(VosbenchError, match=r"empty: no frames \(\.jpg, \.jpeg, \.png files\)"):
        open_dataset("frames", tmp_path / "empty", mask=tmp_path / "m.png")
    with pytest.raises(VosbenchError, match="dataset kind 'frames' has no splits"):
        open_dataset("frames", tmp_path / "clip", split="val", mask=tmp_path / "m.png")
    with pytest.raises(VosbenchError, match=r"clip: this folder holds only the video 'clip'"):
        open_dataset("frames", tmp_path / "clip", mask=tmp_path / "m.png").video("other")


def test_open_dataset_checks(tmp_path: Path) -> None:
    assert set(KINDS) == {"davis2016", "davis2017", "youtube2018", "youtube2019", "lvos", "mose", "ltv", "sav", "frames"}
    with pytest.raises(VosbenchError, match=r"unknown dataset kind 'kitti'; known: davis2016, .*synthetic"):
        open_dataset("kitti", tmp_path)
    with pytest.raises(VosbenchError, match=r"nowhere: dataset root not found"):
        open_dataset("davis2017", tmp_path / "nowhere")
    make_davis2017(tmp_path, {"a": (2, [1])})
    with pytest.raises(VosbenchError, match=r"dataset kind 'davis2017' has no option all_frames; known: resolution, sequences, split"):
        open_dataset("davis2017", tmp_path, all_frames=True)
