"""Prediction writers: round trips, atomic sequences, the YouTube-VOS challenge zip."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_layouts import H, W, make_davis2017, make_youtube, objects_mask
from vosbench.data import open_dataset
from vosbench.data.submission import write_sequence, zip_youtube
from vosbench.errors import VosbenchError
from vosbench.masks import read_mask


def test_davis_round_trip_keeps_the_dataset_ids(tmp_path: Path) -> None:
    dataset = open_dataset("davis2017", make_davis2017(tmp_path / "data", {"a": (3, [2, 5]), "b": (2, [1])}))
    out = tmp_path / "pred"
    for video in dataset:
        with write_sequence(out, video) as sink:
            for t in video.output_frames:
                sink.write(t, video.info.objects.to_contiguous(video.gt_mask(t)))
    for video in dataset:
        written = sorted((out / video.name).iterdir())
        assert [p.name for p in written] == [f"{n}.png" for n in video.frame_names]
        for t, path in enumerate(written):
            assert Image.open(path).mode == "P"
            assert np.array_equal(read_mask(path), video.gt_mask(t))
    assert read_mask(out / "a" / "00000.png").max() == 5


def test_a_sequence_appears_complete_or_not_at_all(tmp_path: Path) -> None:
    video = open_dataset("davis2017", make_davis2017(tmp_path / "data", {"a": (3, [1])})).video("a")
    out = tmp_path / "pred"
    labels = objects_mask([1])

    with pytest.raises(RuntimeError):
        with write_sequence(out, video) as sink:
            sink.write(0, labels)
            raise RuntimeError("method crashed")
    assert not (out / "a").exists()

    with pytest.raises(VosbenchError, match=r"pred/a: not written, no prediction for 1 frames \(00002"):
        with write_sequence(out, video) as sink:
            sink.write(0, labels)
            sink.write(1, labels)
    assert not (out / "a").exists()

    with write_sequence(out, video) as sink:
        for t in range(3):
            sink.write(t, labels)
    # A failed rewrite keeps the complete earlier sequence.
    with pytest.raises(RuntimeError):
        with write_sequence(out, video) as sink:
            sink.write(0, np.zeros_like(labels))
            raise RuntimeError("crash")
    assert sorted(p.name for p in (out / "a").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    assert np.array_equal(read_mask(out / "a" / "00000.png"), labels)
    assert [p.name for p in out.iterdir()] == ["a"]  # no temporaries left behind


def test_bad_predictions(tmp_path: Path) -> None:
    video = open_dataset("davis2017", make_davis2017(tmp_path / "data", {"a": (2, [4, 9])})).video("a")
    with pytest.raises(VosbenchError, match=r"a frame 00001: prediction is \(32, 40\) but the video is \(32, 48\)"):
        with write_sequence(tmp_path / "pred", video) as sink:
            sink.write(1, np.zeros((H, 40), np.uint8))
    with pytest.raises(VosbenchError, match=r"a frame 00000: labels must lie in 0\.\.2 .*got 0\.\.3"):
        with write_sequence(tmp_path / "pred", video) as sink:
            sink.write(0, np.full((H, W), 3, np.uint8) * (objects_mask([1]) > 0))
    with pytest.raises(VosbenchError, match="unknown prediction layout 'kitti'"):
        with write_sequence(tmp_path / "pred", video, layout="kitti"):
            pass
    assert not (tmp_path / "pred" / "a").exists()


def test_youtube_layout_and_zip_with_all_frames(tmp_path: Path) -> None:
    root = make_youtube(tmp_path / "yt", "valid", {"late": {2: 0, 5: 10}, "solo": {1: 5}}, all_frames=True, gt=True)
    dataset = open_dataset("youtube2019", root, all_frames=True)
    out = tmp_path / "pred"
    for video in dataset:
        with write_sequence(out, video, layout="youtube") as sink:
            for t in range(len(video)):  # the engine runs every frame
                nearest = max(g for g in video.gt_frames if g <= t)
                sink.write(t, video.info.objects.to_contiguous(video.gt_mask(nearest)))
    stride = [f"{t:05d}.png" for t in range(0, 26, 5)]
    for name in ("late", "solo"):
        assert sorted(p.name for p in (out / "Annotations" / name).iterdir()) == stride

    archive = zip_youtube(out, videos=dataset.sequences)
    assert archive == tmp_path / "pred.zip"
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        assert names == [f"Annotations/{v}/{f}" for v in ("late", "solo") for f in stride]
        z.extractall(tmp_path / "unzipped")
    late = dataset.video("late")
    for t, f in zip(late.output_frames, stride):
        assert np.array_equal(read_mask(tmp_path / "unzipped" / "Annotations" / "late" / f), late.gt_mask(t))
    assert read_mask(tmp_path / "unzipped" / "Annotations" / "late" / "00010.png").max() == 5


def test_zip_youtube_bad_input(tmp_path: Path) -> None:
    with pytest.raises(VosbenchError, match=r"pred/Annotations: no predictions to zip"):
        zip_youtube(tmp_path / "pred")
    (tmp_path / "pred" / "Annotations" / "v1").mkdir(parents=True)
    with pytest.raises(VosbenchError, match=r"no predictions for 1 videos \(v2\)"):
        zip_youtube(tmp_path / "pred", videos=["v1", "v2"])
    assert not (tmp_path / "pred.zip").exists()
