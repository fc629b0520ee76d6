"""DAVIS 2016 on the real validation set; DAVIS 2017 on tiny layouts written here."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vosbench.data.files as files
import vosbench.masks as masks
from data_layouts import H, W, colour, make_davis2017, objects_mask
from vosbench.data import open_dataset
from vosbench.data.davis import read_split
from vosbench.errors import VosbenchError
from vosbench.masks import write_mask


@pytest.fixture
def opened(monkeypatch) -> list[Path]:
    """Every image file opened through the data readers, in order."""
    seen: list[Path] = []
    real_open, real_read_mask = Image.open, masks.read_mask

    def spy(path, *args, **kwargs):
        seen.append(Path(path))
        return real_open(path, *args, **kwargs)

    def mask_spy(path):  # masks are decoded by vosbench.png, not Image.open
        seen.append(Path(path))
        return real_read_mask(path)

    monkeypatch.setattr(files.Image, "open", spy)
    monkeypatch.setattr(files, "read_mask", mask_spy)
    return seen


def test_davis2016_val_sequences_frames_and_objects(davis2016: Path) -> None:
    dataset = open_dataset("davis2016", davis2016)
    listed = (davis2016 / "ImageSets" / "2016" / "val.txt").read_text().split()
    assert dataset.name == "davis2016-val"
    assert dataset.sequences == listed and len(listed) == 20
    counts = {}
    for video in dataset:
        info = video.info
        jpegs = sorted((davis2016 / "JPEGImages" / "480p" / video.name).glob("*.jpg"))
        assert video.frame_names == [p.stem for p in jpegs]
        assert info.size == (480, 854)
        assert info.objects.ids == (1,) and info.first_frame == {1: 0}
        assert video.gt_frames == list(range(len(jpegs)))
        counts[video.name] = len(video)
    assert counts["blackswan"] == 50
    assert sum(counts.values()) == 1376


def test_davis2016_reads_lazily_and_maps_255_to_object_1(davis2016: Path, opened: list[Path]) -> None:
    video = open_dataset("davis2016", davis2016, sequences=["blackswan"]).video("blackswan")
    assert opened == []  # listing a video reads no image
    _ = video.info
    frames = davis2016 / "JPEGImages" / "480p" / "blackswan"
    annotations = davis2016 / "Annotations" / "480p" / "blackswan"
    assert opened == [frames / "00000.jpg", annotations / "00000.png"]
    frame = video.frame(7)
    assert opened[-1] == frames / "00007.jpg" and len(opened) == 3
    assert frame.shape == (480, 854, 3) and frame.dtype == np.uint8
    assert np.array_equal(frame, np.asarray(Image.open(frames / "00007.jpg").convert("RGB")))

    given = video.given_mask(0)
    raw = np.asarray(Image.open(annotations / "00000.png"))
    assert set(np.unique(raw).tolist()) == {0, 255}
    assert np.array_equal(given, (raw == 255).astype(np.uint8))
    assert video.given_mask(1) is None
    gt = video.gt_mask(49)
    assert gt.dtype == np.uint8 and set(np.unique(gt).tolist()) == {0, 1}


def test_davis2016_split_file_of_the_original_release(davis2016: Path, tmp_path: Path) -> None:
    # The original release lists frame/annotation pairs instead of names.
    for folder in ("JPEGImages", "Annotations"):
        (tmp_path / folder).symlink_to(davis2016 / folder)
    names = (davis2016 / "ImageSets" / "2016" / "val.txt").read_text().split()[:3]
    lines = [
        f"/JPEGImages/480p/{name}/{t:05d}.jpg /Annotations/480p/{name}/{t:05d}.png" for name in names for t in range(3)
    ]
    split = tmp_path / "ImageSets" / "2016" / "val.txt"
    split.parent.mkdir(parents=True)
    split.write_text("\n".join(lines) + "\n")
    assert read_split(split) == names
    assert open_dataset("davis2016", tmp_path).sequences == names


def test_davis2017_objects_from_frame0_with_non_consecutive_ids(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"two": (4, [1, 3]), "one": (3, [2])})
    dataset = open_dataset("davis2017", tmp_path)
    assert dataset.name == "davis2017-val" and dataset.sequences == ["two", "one"]
    video = dataset.video("two")
    assert len(video) == 4 and video.info.size == (H, W)
    assert video.info.objects.ids == (1, 3) and video.info.first_frame == {1: 0, 3: 0}
    assert np.array_equal(video.given_mask(0), objects_mask([1, 3]))
    assert [video.given_mask(t) for t in (1, 2, 3)] == [None, None, None]
    assert video.gt_frames == [0, 1, 2, 3]
    assert np.array_equal(video.gt_mask(3), objects_mask([1, 3]))
    # The colour of a frame says which frame was read (JPEG is lossy: compare loosely).
    assert np.abs(video.frame(2).astype(int) - colour(2)).max() <= 3
    assert dataset.video("one").info.objects.ids == (2,)


def test_davis2017_reads_a_0_255_sequence_as_object_1(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"bin": (2, [1])})
    path = tmp_path / "Annotations" / "480p" / "bin" / "00000.png"
    Image.fromarray(objects_mask([1]) * 255, mode="L").save(path)
    video = open_dataset("davis2017", tmp_path).video("bin")
    assert video.info.objects.ids == (1,)
    assert np.array_equal(video.given_mask(0), objects_mask([1]))


def test_davis2016_kind_refuses_several_object_ids(tmp_path: Path) -> None:
    """DAVIS 2016 holds one object (0/255); merging ids 1 and 3 would make the run score one
    object where ``vosbench eval`` scores two, so such a mask is refused, naming the file."""
    make_davis2017(tmp_path, {"multi": (2, [1, 3])})
    split = tmp_path / "ImageSets" / "2016" / "val.txt"
    split.parent.mkdir(parents=True)
    split.write_text("multi\n")
    first = tmp_path / "Annotations" / "480p" / "multi" / "00000.png"
    with pytest.raises(VosbenchError, match=re.escape(f"{first}: holds values [1, 3]") + ".*-d davis2017"):
        open_dataset("davis2016", tmp_path).video("multi").info
    write_mask(first, (objects_mask([1, 3]) > 0).astype(np.uint8))  # 0/1: one object
    video = open_dataset("davis2016", tmp_path).video("multi")
    assert video.info.objects.ids == (1,)
    assert np.array_equal(video.given_mask(0), (objects_mask([1, 3]) > 0).astype(np.uint8))


def test_full_resolution_and_ground_truth_only_where_annotated(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"big": (3, [4])}, resolution="Full-Resolution", size=(64, 96))
    # Test-dev style: only the first frame is annotated.
    for t in (1, 2):
        (tmp_path / "Annotations" / "Full-Resolution" / "big" / f"{t:05d}.png").unlink()
    video = open_dataset("davis2017", tmp_path, resolution="Full-Resolution").video("big")
    assert video.info.size == (64, 96) and video.gt_frames == [0]
    with pytest.raises(KeyError):
        video.gt_mask(1)


def test_sequence_selection(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (2, [1]), "b": (2, [1]), "c": (2, [1])})
    assert open_dataset("davis2017", tmp_path, sequences=["c", "a"]).sequences == ["a", "c"]
    with pytest.raises(VosbenchError, match=r"val\.txt: no sequence zz"):
        open_dataset("davis2017", tmp_path, sequences=["a", "zz"])


# --- bad input: one clear line naming the file --------------------------------------


def test_missing_split_file(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (2, [1])})
    with pytest.raises(VosbenchError, match=r"ImageSets/2017/test-dev\.txt: split file not found"):
        open_dataset("davis2017", tmp_path, split="test-dev")


def test_listed_sequence_without_frames_folder(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (2, [1])})
    (tmp_path / "ImageSets" / "2017" / "val.txt").write_text("a\nghost\n")
    with pytest.raises(VosbenchError, match=r"JPEGImages/480p/ghost: frames folder of ghost"):
        open_dataset("davis2017", tmp_path)


def test_annotation_without_its_frame(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (3, [1])})
    (tmp_path / "JPEGImages" / "480p" / "a" / "00002.jpg").unlink()
    with pytest.raises(VosbenchError, match=r"Annotations/480p/a/00002\.png: annotation has no frame .*00002\.jpg"):
        open_dataset("davis2017", tmp_path).video("a")


def test_missing_first_frame_annotation(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (3, [1])})
    (tmp_path / "Annotations" / "480p" / "a" / "00000.png").unlink()
    with pytest.raises(VosbenchError, match=r"a/00000\.png: first-frame annotation not found"):
        open_dataset("davis2017", tmp_path).video("a")


def test_frame_deleted_after_listing(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (3, [1])})
    video = open_dataset("davis2017", tmp_path).video("a")
    _ = video.info
    (tmp_path / "JPEGImages" / "480p" / "a" / "00001.jpg").unlink()
    with pytest.raises(VosbenchError, match=r"a/00001\.jpg: frame file not found"):
        video.frame(1)
    assert video.frame(2).shape == (H, W, 3)


def test_annotation_size_differs_from_frame(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (3, [1])})
    write_mask(tmp_path / "Annotations" / "480p" / "a" / "00002.png", objects_mask([1], (H, W + 2)))
    video = open_dataset("davis2017", tmp_path).video("a")
    with pytest.raises(VosbenchError, match=r"a/00002\.png: annotation is 32x50 but its frames are 32x48"):
        video.gt_mask(2)


def test_frame_size_differs_from_first_frame(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (3, [1])})
    Image.new("RGB", (W, H + 1)).save(tmp_path / "JPEGImages" / "480p" / "a" / "00001.jpg")
    with pytest.raises(VosbenchError, match=r"a/00001\.jpg: frame is 33x48 but the video's first frame is 32x48"):
        open_dataset("davis2017", tmp_path).video("a").frame(1)


def test_corrupt_jpegs(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (3, [1])})
    frames = tmp_path / "JPEGImages" / "480p" / "a"
    data = (frames / "00001.jpg").read_bytes()
    (frames / "00001.jpg").write_bytes(data[: len(data) // 2])
    video = open_dataset("davis2017", tmp_path).video("a")
    with pytest.raises(VosbenchError, match=r"a/00001\.jpg: cannot read image .*replace the corrupt file"):
        video.frame(1)
    (frames / "00000.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(VosbenchError, match=r"a/00000\.jpg: cannot read image"):
        _ = open_dataset("davis2017", tmp_path).video("a").info


def test_unknown_object_id_in_later_annotation(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (3, [1, 2])})
    write_mask(tmp_path / "Annotations" / "480p" / "a" / "00002.png", objects_mask([1, 6]))
    video = open_dataset("davis2017", tmp_path).video("a")
    with pytest.raises(VosbenchError, match=r"a/00002\.png: object ids \[6\] are not among the video's objects \[1, 2\]"):
        video.gt_mask(2)


def test_empty_first_annotation(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (2, [1])})
    write_mask(tmp_path / "Annotations" / "480p" / "a" / "00000.png", np.zeros((H, W), np.uint8))
    with pytest.raises(VosbenchError, match=r"a/00000\.png: the given annotation holds no object"):
        _ = open_dataset("davis2017", tmp_path).video("a").info


def test_corrupt_annotation(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (2, [1])})
    (tmp_path / "Annotations" / "480p" / "a" / "00000.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(VosbenchError, match=r"a/00000\.png: cannot read mask"):
        _ = open_dataset("davis2017", tmp_path).video("a").info


def test_unknown_resolution(tmp_path: Path) -> None:
    make_davis2017(tmp_path, {"a": (2, [1])})
    with pytest.raises(VosbenchError, match="resolution '720p' is not one of"):
        open_dataset("davis2017", tmp_path, resolution="720p")
