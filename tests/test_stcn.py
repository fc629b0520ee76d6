"""STCN: the official conformance cases through the checkpoint loader, bad checkpoints,
late objects, odd sizes, resizing options and bfloat16 autocast."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from conformance import load_case, spec, synthetic_state_dict, write_checkpoint
from methods.stcn import build
from methods.stcn.network import load_stcn
from vosbench import registry
from vosbench.data.video import VideoInfo
from vosbench.errors import VosbenchError
from vosbench.masks import ObjectIds

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint("stcn", tmp_path_factory.mktemp("stcn") / "stcn.pth")


def video_info(name: str, frames: list[np.ndarray], first_frame: dict[int, int]) -> VideoInfo:
    h, w = frames[0].shape[:2]
    return VideoInfo(name, len(frames), h, w, ObjectIds(tuple(sorted(first_frame))), first_frame)


def run(method, frames: list[np.ndarray], given: dict[int, np.ndarray], first_frame: dict[int, int]):
    """Drive ``method`` over ``frames``; ``given`` maps a frame index to its new-object mask."""
    method.start(video_info("test", frames, first_frame))
    probs, sizes = [], []
    for t, frame in enumerate(frames):
        probs.append(method.step(frame, given.get(t), t == len(frames) - 1).numpy())
        sizes.append(method.memory().per_object)
    return np.stack(probs), sizes


def small_video(size: tuple[int, int], frames: int = 6) -> tuple[list[np.ndarray], np.ndarray]:
    """Real frames and a 2-object first mask (car-shadow case) resized to ``size`` (H, W)."""
    case = load_case("stcn", "car-shadow-2obj")
    resized = [np.asarray(Image.fromarray(f).resize(size[::-1], Image.BILINEAR)) for f in case["frames"][:frames]]
    mask = np.asarray(Image.fromarray(case["mask0"]).resize(size[::-1], Image.NEAREST))
    return resized, mask


# --- conformance -----------------------------------------------------------------


@pytest.mark.conformance
@pytest.mark.parametrize("case", ["blackswan-1obj", "car-shadow-2obj"])
def test_conformance(case, checkpoint):
    facts = spec("stcn")["cases"][case]
    data = load_case("stcn", case)
    method = build({"mem_every": facts["mem_every"], "top_k": facts["top_k"]}, str(checkpoint))
    ids = sorted(int(v) for v in np.unique(data["mask0"]) if v)
    probs, sizes = run(method, data["frames"], {0: data["mask0"]}, {i: 0 for i in ids})

    expected = data["prob"]
    assert probs.shape == expected.shape
    delta = np.abs(probs - expected)
    # README's check: top-k near-ties may pick another 20th entry, hence 2e-3 at most and a small mean
    assert delta.max() <= 2e-3, delta.max()
    assert delta.reshape(len(probs), -1).mean(axis=1).max() <= 5e-5
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 2e-3
    assert np.array_equal(probs.argmax(1)[clear], data["mask"][clear])
    assert [s[0] for s in sizes] == data["mem_size"].tolist()
    assert all(len(set(s)) == 1 for s in sizes)  # keys are shared: every object holds the same positions


# --- checkpoints -----------------------------------------------------------------


def test_build_without_checkpoint_is_training_free():
    from methods.training_free.propagation import LabelPropagation

    method = build({})
    assert isinstance(method, LabelPropagation) and method.memory_policy.top_k == 20


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    path = tmp_path / "partial.pth"
    torch.save({"key_proj.key_proj.weight": torch.zeros(64, 1024, 3, 3), "not_a_layer.weight": torch.zeros(3)}, path)
    with pytest.raises(VosbenchError) as error:
        load_stcn(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "missing: key_encoder.conv1.weight" in message and "unexpected: not_a_layer.weight" in message


def test_wrong_shape_is_listed(tmp_path):
    path = tmp_path / "shape.pth"
    torch.save({"key_proj.key_proj.weight": torch.zeros(128, 1024, 3, 3)}, path)
    with pytest.raises(VosbenchError, match=r"wrong shape .*key_proj\.key_proj\.weight \(128, 1024, 3, 3\) vs \(64, 1024, 3, 3\)"):
        load_stcn(path)


class Payload:
    """A pickled object that weights_only loading must refuse to construct."""


def test_unreadable_files_are_not_checkpoints(tmp_path):
    noise = tmp_path / "noise.pth"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights\n" * 20)
    for path in (noise, text):
        with pytest.raises(VosbenchError, match="not a PyTorch checkpoint") as error:
            load_stcn(path)
        assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_plain_pickle_with_objects_is_refused_for_safety(tmp_path):
    """A pickle that is no torch.save file, carrying an object: named as such, not as noise."""
    raw = tmp_path / "raw-pickle.pth"
    raw.write_bytes(pickle.dumps({"model": Payload()}))
    with pytest.raises(VosbenchError, match=r"holds objects other than tensors \(test_stcn.Payload\).*refused for safety"):
        load_stcn(raw)


def test_pickled_object_is_refused(tmp_path):
    path = tmp_path / "object.pth"
    torch.save({"model": Payload()}, path)
    with pytest.raises(VosbenchError, match=r"holds objects other than tensors .*Payload.*refused for safety.*weights_only=True") as error:
        load_stcn(path)
    assert "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(VosbenchError, match="not found"):
        build({}, str(tmp_path / "absent.pth"))


def test_stage0_checkpoint_with_prefix_and_nesting_loads(tmp_path, checkpoint):
    # a static-image checkpoint: 4-channel value conv1, saved from a DataParallel model under
    # "state_dict". For one object the "others" channel is all zeros, so dropping it from the
    # weights must change nothing once the loader appends zeros.
    state = synthetic_state_dict("stcn")
    state["value_encoder.conv1.weight"] = state["value_encoder.conv1.weight"][:, :4].clone()
    path = tmp_path / "stage0.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    del state
    loaded = load_stcn(path).value_encoder.conv1.weight
    assert loaded.shape[1] == 5 and torch.all(loaded[:, 4] == 0)

    frames, mask = small_video((64, 96), frames=3)
    single = (mask > 0).astype(np.uint8)
    a, _ = run(build({}, str(path)), frames, {0: single}, {1: 0})
    b, _ = run(build({}, str(checkpoint)), frames, {0: single}, {1: 0})
    np.testing.assert_array_equal(a, b)


# --- behaviour beyond the cases --------------------------------------------------


def test_object_given_at_a_later_frame(checkpoint):
    frames, mask = small_video((75, 101), frames=8)
    first = (mask == 1).astype(np.uint8)
    later = np.where(mask == 2, 2, 0).astype(np.uint8)
    method = build({"mem_every": 3}, str(checkpoint))
    probs, sizes = run(method, frames, {0: first, 4: later}, {1: 0, 2: 4})

    assert probs.shape == (8, 3, 75, 101) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(probs[:4, 2] == 0)  # not given yet
    region = later == 2
    assert np.all(probs[4].argmax(0)[region] == 2) and probs[4, 2][region].min() > 0.99
    assert probs[4, 1][region].max() < 1e-6  # the given mask overrides object 1 there
    assert probs[5:, 2].max() > 0  # and it is segmented afterwards

    grid = 5 * 7  # 80x112 padded, stride 16
    # memorised: 0, 3 (period), 4 (object 2 given); the period restarts there, so not 6; 7 is last
    assert [s[0] for s in sizes] == [grid] * 3 + [2 * grid] + [3 * grid] * 4
    assert [s[1] for s in sizes] == [0] * 4 + [grid] * 4  # object 2 reads only frames since it was given

    # before object 2 appears, object 1 is segmented exactly as in a video without it
    alone, _ = run(build({"mem_every": 3}, str(checkpoint)), frames[:4], {0: first}, {1: 0})
    np.testing.assert_array_equal(probs[:4, :2], alone)


def test_frames_before_any_object_are_background(checkpoint):
    frames, mask = small_video((48, 64), frames=4)
    given = (mask > 0).astype(np.uint8)
    probs, sizes = run(build({}, str(checkpoint)), frames, {2: given}, {1: 2})
    assert np.all(probs[:2, 0] == 1) and np.all(probs[:2, 1] == 0)
    assert sizes[:2] == [(0,), (0,)] and sizes[2][0] > 0
    assert probs[2, 1][given == 1].min() > 0.99


@pytest.mark.parametrize("size", [(75, 101), (20, 30)])
def test_any_resolution(checkpoint, size):
    # 20x30 pads to 32x32: 4 positions per frame, fewer than top_k, so every entry is read
    frames, mask = small_video(size, frames=4)
    probs, _ = run(build({"mem_every": 1}, str(checkpoint)), frames, {0: mask}, {1: 0, 2: 0})
    assert probs.shape == (4, 3, *size)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("settings, net_size", [({"resize_short": 48}, (48, 64)), ({"input_size": "64x80"}, (64, 80))])
def test_resizing_options(checkpoint, settings, net_size):
    frames, mask = small_video((75, 101), frames=3)
    method = build(registry.get("stcn").resolve(settings), str(checkpoint))
    probs, sizes = run(method, frames, {0: mask}, {1: 0, 2: 0})
    assert probs.shape == (3, 3, 75, 101)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    grid = -(-net_size[0] // 16) * -(-net_size[1] // 16)
    assert sizes[0] == (grid, grid)


def test_conflicting_or_bad_settings(checkpoint):
    with pytest.raises(VosbenchError, match="not both"):
        build({"input_size": (64, 64), "resize_short": 48}, str(checkpoint))
    with pytest.raises(VosbenchError, match="mem_every"):
        build({"mem_every": 0}, str(checkpoint))
    with pytest.raises(VosbenchError, match="input_size"):
        build({"input_size": "big"}, str(checkpoint))


def test_bad_frames_and_masks(checkpoint):
    frames, mask = small_video((48, 64), frames=2)
    method = build({}, str(checkpoint))
    method.start(video_info("bad", frames, {1: 0, 2: 0}))
    with pytest.raises(VosbenchError, match="bad frame 0: mask holds object indices \\[3\\]"):
        method.step(frames[0], np.where(mask > 0, 3, 0).astype(np.uint8), False)
    with pytest.raises(VosbenchError, match="frame is 32x48"):
        method.step(frames[0][:48, :32], mask, False)
    method.step(frames[0], mask, False)
    with pytest.raises(VosbenchError, match="already given"):
        method.step(frames[1], mask, True)


def test_bfloat16_autocast_runs(checkpoint):
    frames, mask = small_video((75, 101), frames=4)
    method = build({"mem_every": 2}, str(checkpoint), dtype=torch.bfloat16)
    probs, sizes = run(method, frames, {0: mask}, {1: 0, 2: 0})
    assert probs.dtype == np.float32 and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    assert sizes[-1] == (2 * 35, 2 * 35)
    assert method.memory().nbytes == 2 * 35 * (64 + 2 * 512) * 2  # bfloat16 keys and values
