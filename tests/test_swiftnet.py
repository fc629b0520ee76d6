"""SwiftNet end to end: the official conformance cases through the checkpoint loader, bad
checkpoints, objects that start late, odd sizes, bfloat16 autocast, the CLI listing."""

from __future__ import annotations

import collections
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conformance import load_case, spec, synthetic_state_dict, write_checkpoint
from conftest import ROOT
from vosbench import registry
from vosbench.data.video import VideoInfo
from vosbench.errors import VosbenchError
from vosbench.masks import ObjectIds

TOLERANCE = 1e-4  # README: official float noise is <= 3.3e-6
CASES = ("blackswan-1obj", "car-shadow-2obj")


def build(checkpoint, dtype=None, **settings):
    method = registry.get("swiftnet")
    return method.factory(method.resolve(settings), checkpoint=str(checkpoint), dtype=dtype)


def video_info(name: str, frames: int, height: int, width: int, first: dict[int, int]) -> VideoInfo:
    return VideoInfo(name, frames, height, width, ObjectIds(tuple(sorted(first))), first)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    # As the release ships it: a flat state dict, every key prefixed by DataParallel's "module.".
    path = tmp_path_factory.mktemp("swiftnet") / "swiftnet_resnet18_old.pth"
    write_checkpoint("swiftnet", path)
    return path


@pytest.fixture(scope="module", params=CASES)
def run(request, checkpoint):
    """One conformance case driven frame by frame; what the tests compare."""
    torch.set_num_threads(2)
    case = load_case("swiftnet", request.param)
    facts = spec("swiftnet")["cases"][request.param]
    method = build(checkpoint, mem_every=facts["mem_every"])
    frames, mask0 = case["frames"], case["mask0"]
    count = int(mask0.max())
    method.start(video_info(request.param, len(frames), *mask0.shape, {k: 0 for k in range(1, count + 1)}))
    probs, stored, matched = [], [], []
    for t, frame in enumerate(frames):
        probs.append(method.step(frame, mask0 if t == 0 else None, t == len(frames) - 1).numpy())
        report = method.memory()
        stored.append(report.per_object)
        matched.append(report.matched)
    return {
        "case": case,
        "prob": np.stack(probs),
        "stored": np.array(stored),
        "matched": np.array(matched),
        "updates": method.memory_policy.updates,
    }


def test_official_checkpoint_layout(checkpoint):
    state = torch.load(checkpoint, weights_only=True)
    assert len(state) == 142 and all(k.startswith("module.") for k in state)


@pytest.mark.conformance
def test_prob_matches_official(run):
    delta = np.abs(run["prob"] - run["case"]["prob"])
    per_frame = delta.reshape(len(delta), -1).max(axis=1)
    assert per_frame.max() <= TOLERANCE, f"max |delta prob| per frame: {per_frame}"


@pytest.mark.conformance
def test_mask_matches_official_outside_near_ties(run):
    expected = run["case"]["prob"]
    top_two = np.sort(expected, axis=1)[:, -2:]
    decided = top_two[:, 1] - top_two[:, 0] > TOLERANCE
    ours = run["prob"].argmax(axis=1)
    assert decided.mean() > 0.9
    assert np.array_equal(ours[decided], run["case"]["mask"][decided])


@pytest.mark.conformance
def test_memory_sizes_match_official(run):
    objects = run["stored"].shape[1]
    assert np.array_equal(run["stored"], np.repeat(run["case"]["mem_size_stored"][:, None], objects, axis=1))
    assert np.array_equal(run["matched"], np.repeat(run["case"]["mem_size_matched"][:, None], objects, axis=1))


@pytest.mark.conformance
def test_pixelwise_updates_match_official(run):
    updates, case = run["updates"], run["case"]
    assert [u.frame for u in updates] == case["update_src_frame"].tolist()
    for update, positions in zip(updates, case["update_positions"]):
        assert sorted(update.positions) == list(range(len(positions)))
        for o, expected in enumerate(positions):
            assert update.positions[o].tolist() == expected.tolist()


# -- the checkpoint loader -----------------------------------------------------------


class NotATensor:
    """Pickled by reference: weights_only loading must refuse it."""


def bad_checkpoint(tmp_path, name: str, change) -> str:
    state = synthetic_state_dict("swiftnet")
    change(state)
    path = tmp_path / name
    torch.save(state, path)
    return str(path)


def assert_one_line_error(checkpoint, *words):
    with pytest.raises(VosbenchError) as error:
        build(checkpoint)
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_checkpoint_without_the_prefix_loads(tmp_path):
    path = bad_checkpoint(tmp_path, "plain.pth", lambda s: [s.update({k[7:]: s.pop(k)}) for k in list(s)])
    assert build(path).network.Encoder.res4[1].conv2.weight.shape == (256, 256, 3, 3)


def test_checkpoint_with_a_missing_key(tmp_path):
    path = bad_checkpoint(tmp_path, "missing.pth", lambda s: s.pop("module.LAE.conv1_m.weight"))
    assert_one_line_error(path, path, "missing", "LAE.conv1_m.weight")


def test_checkpoint_with_a_wrong_shape(tmp_path):
    path = bad_checkpoint(tmp_path, "shape.pth", lambda s: s.update({"module.KV_Q_r4.Key.weight": torch.zeros(16, 256, 3, 3)}))
    assert_one_line_error(path, path, "wrong shape", "KV_Q_r4.Key.weight")


def test_checkpoint_with_an_unexpected_key(tmp_path):
    path = bad_checkpoint(tmp_path, "extra.pth", lambda s: s.update({"module.Encoder.layer4.0.conv1.weight": torch.zeros(1)}))
    assert_one_line_error(path, path, "unexpected", "layer4")


def test_checkpoint_in_the_legacy_format_loads(tmp_path):
    # torch.save before PyTorch 1.6 wrote a bare pickle, not a zip archive
    path = tmp_path / "legacy.pth"
    torch.save(synthetic_state_dict("swiftnet"), path, _use_new_zipfile_serialization=False)
    assert build(path).network.LAE.conv1_m.weight.shape == (64, 1, 7, 7)


@pytest.mark.parametrize("content", [np.random.default_rng(0).bytes(4096), b"hello world\n", b""])
def test_checkpoint_that_is_not_one(tmp_path, content):
    path = tmp_path / "noise.pth"
    path.write_bytes(content)
    assert_one_line_error(str(path), str(path), "not a PyTorch checkpoint")


def test_checkpoint_holding_code_is_refused(tmp_path):
    path = tmp_path / "object.pth"
    torch.save({"model": NotATensor()}, path)
    assert_one_line_error(str(path), str(path), "weights_only")


def test_checkpoint_missing_or_not_given(tmp_path):
    assert_one_line_error(str(tmp_path / "absent.pth"), "absent.pth", "not found")
    from methods.training_free.propagation import LabelPropagation

    assert isinstance(registry.get("swiftnet").factory({}), LabelPropagation)


# -- videos the conformance cases do not cover ---------------------------------------


@pytest.fixture(scope="module")
def swan():
    """Five real frames cropped to an odd size (197 x 355: padding on all sides)."""
    case = load_case("swiftnet", "blackswan-1obj")
    frames = [np.ascontiguousarray(f[1:198, 2:357]) for f in case["frames"][:5]]
    return frames, np.ascontiguousarray(case["mask0"][1:198, 2:357])


def test_object_that_starts_late(checkpoint, swan):
    frames, swan_mask = swan
    first = (swan_mask > 0).astype(np.uint8)  # object 1 at frame 0
    later = np.zeros_like(first)
    later[10:60, 20:120] = 2  # object 2 first given at frame 3
    method = build(checkpoint)
    method.start(video_info("late", len(frames), *first.shape, {1: 0, 2: 3}))
    grid = 13 * 23  # 208 x 368 padded, stride 16
    for t, frame in enumerate(frames):
        given = first if t == 0 else later if t == 3 else None
        prob = method.step(frame, given, t == len(frames) - 1)
        assert prob.shape == (3, 197, 355) and prob.dtype == torch.float32
        assert torch.allclose(prob.sum(0), torch.ones(197, 355), atol=1e-5) and prob.min() >= 0
        report = method.memory()
        if t == 0:
            assert np.array_equal(prob.argmax(0).numpy(), first) and prob.max(0).values.min() == 1
        if t < 3:
            assert not prob[2].any()
            assert report.per_object[1] == 0 and report.matched[1] == 0
        if t == 3:
            assert bool((prob[2][later == 2] == 1).all()) and not prob[:2][:, later == 2].any()
            assert report.per_object == (grid, 0) and report.matched == (2 * grid, 0)
        if t == 4:  # object 2's first frame is kept whole; it was read as the temporary frame
            assert report.per_object == (grid, grid) and report.matched == (2 * grid, grid)
            assert prob[2].mean() > 0.01


def test_objects_may_start_out_of_index_order(checkpoint, swan):
    frames, swan_mask = swan
    frames = [np.ascontiguousarray(f[:45, :61]) for f in frames[:4]]
    two = np.zeros((45, 61), np.uint8)
    two[5:30, 10:40] = 2
    one = np.zeros_like(two)
    one[30:44, 40:60] = 1
    method = build(checkpoint)
    method.start(video_info("order", 4, 45, 61, {1: 2, 2: 0}))
    sizes = []
    for t, frame in enumerate(frames):
        prob = method.step(frame, two if t == 0 else one if t == 2 else None, t == 3)
        sizes.append(method.memory().per_object)
        assert torch.allclose(prob.sum(0), torch.ones(45, 61), atol=1e-5)
        if t < 2:
            assert not prob[1].any()
    assert sizes == [(0, 0), (0, 12), (0, 12), (12, 12)]  # 48 x 64 padded: 3 x 4 grid


def test_bad_masks_and_frames_are_clear_errors(checkpoint, swan):
    frames, _ = swan
    method = build(checkpoint)
    method.start(video_info("bad", 5, 197, 355, {1: 0}))
    wrong_id = np.zeros((197, 355), np.uint8)
    wrong_id[:5, :5] = 3
    with pytest.raises(VosbenchError, match="beyond the video's 1 objects"):
        method.step(frames[0], wrong_id, False)
    method.start(video_info("bad", 5, 197, 355, {1: 0}))
    with pytest.raises(VosbenchError, match=r"expected \(197, 355\)"):
        method.step(frames[0], np.zeros((196, 355), np.uint8), False)
    with pytest.raises(VosbenchError, match="expected uint8"):
        method.step(frames[0][:, :-1], None, False)


def test_bfloat16_autocast_runs(checkpoint, swan):
    frames, swan_mask = swan
    method = build(checkpoint, dtype=torch.bfloat16)
    mask = np.zeros_like(swan_mask)
    mask[swan_mask > 0] = 1
    mask[:40, :80] = 2
    method.start(video_info("bf16", 3, 197, 355, {1: 0, 2: 0}))
    for t in range(3):
        prob = method.step(frames[t], mask if t == 0 else None, t == 2)
        assert prob.dtype == torch.float32 and torch.isfinite(prob).all()
        assert torch.allclose(prob.sum(0), torch.ones(197, 355), atol=1e-4)
    assert method.memory().per_object == (299, 299)


def test_variation_trigger_on_a_static_video(checkpoint, swan):
    frames, swan_mask = swan
    method = build(checkpoint, trigger="variation", th_f=0.0, th_m=0.0, p_th=0.0)
    method.start(video_info("still", 5, 197, 355, {1: 0}))
    for t in range(5):  # the same frame five times: no colour changes, so nothing triggers
        method.step(frames[0], (swan_mask > 0).astype(np.uint8) if t == 0 else None, t == 4)
    assert method.memory_policy.memorised == [0]
    assert method.memory().per_object == (299,)


def test_cli_lists_swiftnet_and_its_parameters():
    env = {**os.environ, "COLUMNS": "250"}
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "methods"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    words = collections.Counter(result.stdout.split())
    for name in ("swiftnet", "mem_every", "beta", "trigger", "th_f", "th_m", "p_th", "top_k"):
        assert words[name] >= 1, name
