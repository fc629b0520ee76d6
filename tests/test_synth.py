"""The synthetic video generator: layouts, determinism, visibility facts, CLI, interruption."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vosbench.data import synth
from vosbench.data.synth import STRIDE, SynthParams, generate, parse_size, plan_video
from vosbench.errors import VosbenchError
from vosbench.masks import DAVIS_PALETTE, read_mask

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(height=48, width=64)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def names(folder: Path, suffix: str) -> list[str]:
    return sorted(p.stem for p in folder.iterdir() if p.suffix == suffix)


@pytest.mark.parametrize("layout", ["davis", "youtube"])
def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path, layout):
    params = SynthParams(layout=layout, videos=2, frames=11, objects=2, seed=5, **SMALL)
    first = tree(generate(tmp_path / "a", params).root)
    again = tree(generate(tmp_path / "b", params).root)
    assert first == again
    other = tree(generate(tmp_path / "c", SynthParams(layout=layout, videos=2, frames=11, objects=2, seed=6, **SMALL)).root)
    assert other.keys() - {"synth.json"} == first.keys() - {"synth.json"}
    differing = [name for name in first if name.endswith(".jpg") and first[name] != other[name]]
    assert len(differing) == sum(name.endswith(".jpg") for name in first)


def test_davis_layout(tmp_path):
    params = SynthParams(layout="davis", videos=2, frames=7, objects=3, seed=1, **SMALL)
    out = generate(tmp_path / "davis", params)
    root = out.root
    assert sorted(p.name for p in root.iterdir()) == ["Annotations", "ImageSets", "JPEGImages", "synth.json"]
    assert (root / "ImageSets/2017/val.txt").read_text() == "synth-000\nsynth-001\n"
    assert out.index == root / "ImageSets/2017/val.txt"
    assert json.loads((root / "synth.json").read_text())["params"]["seed"] == 1
    frames = [f"{t:05d}" for t in range(7)]
    for index, name in enumerate(out.sequences):
        assert names(root / "JPEGImages/480p" / name, ".jpg") == frames
        assert names(root / "Annotations/480p" / name, ".png") == frames
        scene = plan_video(params, index)
        for t, frame in enumerate(frames):
            with Image.open(root / "JPEGImages/480p" / name / f"{frame}.jpg") as image:
                assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (64, 48))
            path = root / "Annotations/480p" / name / f"{frame}.png"
            with Image.open(path) as png:
                assert png.mode == "P"
                assert np.array_equal(np.asarray(png.getpalette(), dtype=np.uint8).reshape(-1, 3), DAVIS_PALETTE)
            mask = read_mask(path)
            assert np.array_equal(mask, scene.labels(t))  # the files are the scene's masks
            assert set(np.unique(mask).tolist()) <= {0, 1, 2, 3}
            if t == 0:  # every object is given, clearly visible, at frame 0
                for obj in scene.objects:
                    assert (mask == obj.id).sum() >= 0.3 * obj.area(0)


def test_youtube_layout_meta_and_annotations_agree(tmp_path):
    params = SynthParams(layout="youtube", videos=3, frames=23, objects=3, seed=2, **SMALL)
    out = generate(tmp_path / "yt", params)
    root = out.root
    assert sorted(p.name for p in root.iterdir()) == ["synth.json", "valid", "valid_all_frames", "valid_gt"]
    meta = json.loads((root / "valid/meta.json").read_text())["videos"]
    assert sorted(meta) == list(out.sequences)
    stride_frames = [f"{t:05d}" for t in range(0, 23, STRIDE)]
    assert stride_frames == ["00000", "00005", "00010", "00015", "00020"]
    for index, (name, video) in enumerate(meta.items()):
        scene = plan_video(params, index)
        images = root / "valid/JPEGImages" / name
        all_frames = root / "valid_all_frames/JPEGImages" / name
        assert names(images, ".jpg") == stride_frames
        assert names(all_frames, ".jpg") == [f"{t:05d}" for t in range(23)]
        for frame in stride_frames:  # the same frames in both folders
            assert (images / f"{frame}.jpg").read_bytes() == (all_frames / f"{frame}.jpg").read_bytes()
        assert names(root / "valid_gt/Annotations" / name, ".png") == stride_frames

        ids = [int(i) for i in video["objects"]]
        assert ids == sorted(ids) and len(set(ids)) == 3 and all(1 <= i <= 9 for i in ids)
        assert ids != [1, 2, 3]
        first = {int(i): obj["frames"][0] for i, obj in video["objects"].items()}
        assert min(first.values()) == "00000" and max(first.values()) > "00000"  # someone enters late
        for object_id, obj in video["objects"].items():
            assert obj["category"] in ("ellipse", "blob", "polygon")
            assert obj["frames"] == stride_frames[stride_frames.index(obj["frames"][0]) :]

        given = names(root / "valid/Annotations" / name, ".png")
        assert given == sorted(set(first.values()))
        for frame in given:
            mask = read_mask(root / "valid/Annotations" / name / f"{frame}.png")
            starting = sorted(i for i, f in first.items() if f == frame)
            assert sorted(set(np.unique(mask).tolist()) - {0}) == starting
            gt = read_mask(root / "valid_gt/Annotations" / name / f"{frame}.png")
            assert np.array_equal(mask, np.where(np.isin(gt, starting), gt, 0))
        for frame in stride_frames:
            gt = read_mask(root / "valid_gt/Annotations" / name / f"{frame}.png")
            assert set(np.unique(gt).tolist()) <= {0, *ids}
            for object_id, start in first.items():
                area = int((gt == object_id).sum())
                if frame < start:
                    assert area == 0, f"{name}: object {object_id} in ground truth at {frame}, before {start}"
                elif frame == start:
                    whole = next(obj for obj in scene.objects if obj.id == object_id).area(int(start))
                    assert area >= 0.3 * whole


def test_late_object_is_not_drawn_before_it_enters():
    params = SynthParams(layout="youtube", frames=30, objects=3, seed=4, **SMALL)
    for index in range(3):
        scene = plan_video(params, index)
        late = [obj for obj in scene.objects if obj.first > 0]
        assert late and all(obj.first % STRIDE == 0 for obj in late)
        for obj in late:
            # out of view until after the annotated frame before its first one
            for t in range(obj.first - STRIDE + 1):
                assert not (scene.labels(t) == obj.id).any()
            assert (scene.labels(obj.first) == obj.id).sum() >= 0.3 * obj.area(obj.first)


@pytest.mark.parametrize("layout", ["davis", "youtube"])
def test_objects_occlude_each_other_and_masks_show_only_what_is_visible(layout):
    params = SynthParams(layout=layout, frames=40, objects=2, seed=0, **SMALL)
    for index in range(3):
        scene = plan_video(params, index)
        most_hidden = 0.0
        for t in range(scene.frames):
            labels = scene.labels(t)
            covered = np.zeros(labels.shape, dtype=bool)
            for k in reversed(scene.depth):  # front to back
                obj, whole = scene.objects[k], scene.object_mask(t, k)
                visible = labels == obj.id
                assert np.array_equal(visible, whole & ~covered)
                if whole.any():
                    hidden_by_other = (whole & covered & (labels != 0)).sum()
                    most_hidden = max(most_hidden, hidden_by_other / whole.sum())
                covered |= whole
        # the planned crossing hides a good part of the object behind
        assert most_hidden >= 0.15, f"video {index}: an object is at most {most_hidden:.0%} hidden"


def test_rendered_frames_move():
    scene = plan_video(SynthParams(frames=10, **SMALL), 0)
    (a, la), (b, lb) = scene.render(3), scene.render(4)
    assert a.shape == (48, 64, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 0.5  # camera pans, objects move
    assert not np.array_equal(la, lb)
    inside, outside = a[la == 1].mean(axis=0), a[la == 0].mean(axis=0)
    assert np.abs(inside - outside).max() > 5  # an object differs from its surroundings


@pytest.mark.parametrize("layout", ["davis", "youtube"])
def test_any_resolution(tmp_path, layout):
    params = SynthParams(layout=layout, videos=1, frames=11, height=37, width=53, objects=2, seed=3)
    out = generate(tmp_path / layout, params)
    image = next(out.images.joinpath("synth-000").iterdir())
    with Image.open(image) as opened:
        assert opened.size == (53, 37)
    for png in out.ground_truth.joinpath("synth-000").iterdir():
        assert read_mask(png).shape == (37, 53)


def test_long_video_renders_any_frame_directly():
    params = SynthParams(frames=3000, objects=3, seed=9, **SMALL)
    scene = plan_video(params, 0)
    image, labels = scene.render(2999)
    assert image.shape == (48, 64, 3) and labels.shape == (48, 64)
    for t in range(0, 3000, 25):  # objects keep roaming about the frame, never drifting away
        for obj in scene.objects:
            x, y, _, _ = obj.pose(t)
            assert -0.1 * 64 <= x <= 1.1 * 64 and -0.1 * 48 <= y <= 1.1 * 48


def test_rerun_skips_complete_videos(tmp_path):
    params = SynthParams(videos=2, frames=5, **SMALL)
    generate(tmp_path / "d", params)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "d").rglob("*.jpg")}
    again = generate(tmp_path / "d", params)
    assert again.skipped == ("synth-000", "synth-001")
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "d").rglob("*.jpg")} == before


def test_rerun_with_other_parameters_is_refused(tmp_path):
    generate(tmp_path / "d", SynthParams(videos=1, frames=5, **SMALL))
    with pytest.raises(VosbenchError, match=r"other parameters: seed 0 \(now 7\)"):
        generate(tmp_path / "d", SynthParams(videos=1, frames=5, seed=7, **SMALL))


def test_foreign_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(VosbenchError, match="not a synthetic dataset"):
        generate(tmp_path, SynthParams(videos=1, frames=3, **SMALL))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    "changes",
    [
        dict(layout="kitti"),
        dict(objects=0),
        dict(objects=256),
        dict(frames=0),
        dict(height=8),
        dict(seed=-1),
        dict(layout="youtube", frames=5, objects=2),
    ],
)
def test_bad_parameters_raise(changes):
    with pytest.raises(VosbenchError):
        SynthParams(**changes)


def test_parse_size():
    assert parse_size("240x432") == (240, 432)
    with pytest.raises(VosbenchError, match="HEIGHTxWIDTH"):
        parse_size("240by432")


@pytest.mark.parametrize("layout", ["davis", "youtube"])
def test_interrupted_video_leaves_no_trace_and_rerun_completes(tmp_path, monkeypatch, layout):
    params = SynthParams(layout=layout, videos=2, frames=11, objects=2, seed=8, **SMALL)
    real_jpeg, calls = synth._jpeg, []

    def failing_jpeg(image, quality):
        calls.append(1)
        if len(calls) == 11 + 4:  # the fifth frame of the second video
            raise KeyboardInterrupt
        return real_jpeg(image, quality)

    monkeypatch.setattr(synth, "_jpeg", failing_jpeg)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "out", params)
    monkeypatch.setattr(synth, "_jpeg", real_jpeg)

    root = tmp_path / "out"
    folders = synth.video_folders(root, layout, "synth-001")
    assert not any(folder.exists() for folder in folders.values())
    assert all(folder.is_dir() for folder in synth.video_folders(root, layout, "synth-000").values())
    assert not [p for p in root.rglob(".*")]  # no temporaries left beside the videos
    assert not (root / synth.INDEX[layout]).exists()  # the dataset does not look finished

    resumed = generate(root, params)
    assert resumed.skipped == ("synth-000",)
    assert tree(root) == tree(generate(tmp_path / "fresh", params).root)


def test_temporaries_of_a_killed_run_are_swept(tmp_path):
    params = SynthParams(videos=1, frames=3, **SMALL)
    generate(tmp_path / "d", params)
    stale = tmp_path / "d/JPEGImages/480p/.synth-001.x1y2.tmp"
    stale.mkdir()
    (stale / "00000.jpg").write_bytes(b"half")
    generate(tmp_path / "d", params)
    assert not stale.exists()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, env=env)


def test_cli_generates_and_reports_errors_in_one_line(tmp_path):
    out = tmp_path / "yt"
    args = ["data", "synth", "--layout", "youtube", "--out", str(out), "--videos", "1", "--frames", "12", "--size", "32x40"]
    done = run_cli(*args, "--objects", "3", "--seed", "4")
    assert done.returncode == 0, done.stderr
    assert "1 videos written" in done.stdout
    meta = json.loads((out / "valid/meta.json").read_text())
    assert len(meta["videos"]["synth-000"]["objects"]) == 3
    with Image.open(out / "valid/JPEGImages/synth-000/00010.jpg") as image:
        assert image.size == (40, 32)
    assert json.loads((out / "synth.json").read_text())["params"] == {
        "layout": "youtube", "videos": 1, "frames": 12, "height": 32, "width": 40, "objects": 3, "seed": 4, "quality": 90,
    }

    refused = run_cli(*args, "--objects", "3", "--seed", "5")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "other parameters" in refused.stderr

    bad = run_cli("data", "synth", "--out", str(tmp_path / "x"), "--size", "12by4")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "--size" in bad.stderr
    assert not (tmp_path / "x").exists()


def test_objects_that_cannot_be_placed_fail_before_anything_is_written(tmp_path):
    with pytest.raises(VosbenchError, match="cannot place 12 visible objects in a 16x16 frame"):
        generate(tmp_path / "crowded", SynthParams(objects=12, height=16, width=16, frames=3))
    assert not (tmp_path / "crowded").exists()
