"""XMem: the official conformance cases through the checkpoint loader (fast path on and
off), bad checkpoints, checkpoint variants, late objects, resizing and settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conformance import load_case, spec, synthetic_state_dict, write_checkpoint
from methods.xmem import build
from methods.xmem.network import load_xmem
from vosbench import registry
from vosbench.data.video import VideoInfo
from vosbench.errors import VosbenchError
from vosbench.masks import ObjectIds

MEMORY_SETTINGS = ("top_k", "mem_every", "max_mid_term_frames", "min_mid_term_frames", "num_prototypes", "max_long_term_elements")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint("xmem", tmp_path_factory.mktemp("xmem") / "XMem.pth")


def run(method, frames: list[np.ndarray], given: dict[int, np.ndarray], first_frame: dict[int, int]):
    """Drive ``method``; returns probabilities [T, K+1, H, W], tier sizes per frame,
    hidden-state norms per frame and the memory events."""
    h, w = frames[0].shape[:2]
    method.start(VideoInfo("test", len(frames), h, w, ObjectIds(tuple(sorted(first_frame))), first_frame))
    probs, tiers, norms = [], [], []
    for t, frame in enumerate(frames):
        probs.append(method.step(frame, given.get(t), t == len(frames) - 1).numpy())
        tiers.append(method.bank.tiers())
        norms.append(method.hidden.double().flatten(1).norm(dim=1).numpy())
    events = method.bank.events()
    return np.stack(probs), tiers, norms, events


def small_video(size: tuple[int, int], frames: int = 6) -> tuple[list[np.ndarray], np.ndarray]:
    """Real frames and the 2-object first mask of the car-shadow case resized to ``size`` (H, W)."""
    case = load_case("xmem", "car-shadow-2obj")
    resized = [np.asarray(Image.fromarray(f).resize(size[::-1], Image.BILINEAR)) for f in case["frames"][:frames]]
    mask = np.asarray(Image.fromarray(case["mask0"]).resize(size[::-1], Image.NEAREST))
    return resized, mask


# --- conformance -----------------------------------------------------------------


@pytest.mark.conformance
@pytest.mark.parametrize("fast_conv", [True, False], ids=["fast", "official-arithmetic"])
@pytest.mark.parametrize("case", ["blackswan-1obj", "car-shadow-2obj"])
def test_conformance(case, fast_conv, checkpoint):
    facts = spec("xmem")["cases"][case]
    settings = {name: facts["settings"][name] for name in MEMORY_SETTINGS}
    data = load_case("xmem", case)
    method = build({**settings, "resize_short": None, "fast_conv": fast_conv}, str(checkpoint))
    ids = sorted(int(v) for v in np.unique(data["mask0"]) if v)
    probs, tiers, norms, events = run(method, data["frames"], {0: data["mask0"]}, {i: 0 for i in ids})

    assert [t["working"] for t in tiers] == data["work_mem_size"].tolist()
    assert [t["long_term"] for t in tiers] == data["long_mem_size"].tolist()
    expected_events = [(e["frame"], e["kind"]) for e in facts["memory_events"]]
    assert [(e.frame, e.kind) for e in events] == expected_events
    removals = [(e["long_term_size_before"], e["long_term_size_after"]) for e in facts["memory_events"] if e["kind"] == "removal"]
    assert [(e.before, e.after) for e in events if e.kind == "removal"] == removals

    # README's check: top-k near-ties may pick another 30th entry, hence 1e-2 at most and a small mean
    assert probs.shape == data["prob"].shape
    delta = np.abs(probs - data["prob"])
    assert delta.max() <= 1e-2, delta.max()
    assert delta.reshape(len(probs), -1).mean(axis=1).max() <= 1e-4
    np.testing.assert_allclose(np.stack(norms), data["hidden_norm"], rtol=1e-5)
    top2 = np.sort(data["prob"], axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 2e-2
    assert np.array_equal(probs.argmax(1)[clear], data["mask"][clear])


# --- checkpoints -----------------------------------------------------------------


def test_dimensions_are_read_from_the_checkpoint(checkpoint):
    network = load_xmem(checkpoint)
    assert (network.key_dim, network.value_dim, network.hidden_dim) == (64, 512, 64)


def test_a_file_without_the_dimension_entries_says_what_it_lacks(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"key_proj.key_proj.weight": torch.zeros(64, 1024, 3, 3), "decoder.pred.weight": torch.zeros(1, 256, 3, 3)}, path)
    with pytest.raises(VosbenchError, match=r"not an XMem checkpoint: it lacks value_encoder\.fuser\.block2\.conv2\.weight") as error:
        load_xmem(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_an_stcn_checkpoint_is_refused_with_the_missing_keys(tmp_path):
    path = write_checkpoint("stcn", tmp_path / "stcn.pth")
    with pytest.raises(VosbenchError, match=r"does not match the XMem network; missing: .*key_proj\.d_proj\.weight") as error:
        load_xmem(path)
    message = str(error.value)
    assert "\n" not in message and "unexpected: " in message


def test_missing_file(tmp_path):
    with pytest.raises(VosbenchError, match="not found"):
        build({}, str(tmp_path / "absent.pth"))


def test_single_object_checkpoint_with_prefix_and_nesting_loads(tmp_path, checkpoint):
    # a 4-channel value conv1 (single-object stage) saved from DataParallel under "state_dict":
    # for one object the "others" channel is zeros, so dropping its weights changes nothing
    state = synthetic_state_dict("xmem")
    state["value_encoder.conv1.weight"] = state["value_encoder.conv1.weight"][:, :4].clone()
    path = tmp_path / "s0.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    loaded = load_xmem(path).value_encoder.conv1.weight
    assert loaded.shape[1] == 5 and torch.all(loaded[:, 4] == 0)

    frames, mask = small_video((48, 80), frames=3)
    single = (mask > 0).astype(np.uint8)
    settings = {"resize_short": None, "mem_every": 1}
    a, *_ = run(build(settings, str(path)), frames, {0: single}, {1: 0})
    b, *_ = run(build(settings, str(checkpoint)), frames, {0: single}, {1: 0})
    np.testing.assert_array_equal(a, b)


def test_a_checkpoint_without_sensory_memory_runs_without_it(tmp_path):
    state = {k: v for k, v in synthetic_state_dict("xmem").items() if "hidden_" not in k}
    weight = state["decoder.fuser.block1.conv1.weight"]
    for name in ("conv1", "downsample"):  # the decoder's fuser then takes f16 and the readout only
        state[f"decoder.fuser.block1.{name}.weight"] = weight[:, : 1024 + 512].clone()
    path = tmp_path / "no-hidden.pth"
    torch.save(state, path)
    network = load_xmem(path)
    assert network.hidden_dim == 0 and network.decoder.hidden_update is None
    frames, mask = small_video((48, 80), frames=4)
    method = build({"resize_short": None, "mem_every": 2}, str(path))
    h, w = frames[0].shape[:2]
    method.start(VideoInfo("t", 4, h, w, ObjectIds((1, 2)), {1: 0, 2: 0}))
    probs = [method.step(f, mask if t == 0 else None, t == 3) for t, f in enumerate(frames)]
    assert method.hidden is None
    assert all(torch.isfinite(p).all() for p in probs)


# --- behaviour beyond the cases --------------------------------------------------


def test_object_given_at_a_later_frame(checkpoint):
    frames, mask = small_video((75, 101), frames=6)
    first = (mask == 1).astype(np.uint8)
    later = np.where(mask == 2, 2, 0).astype(np.uint8)
    method = build({"resize_short": None, "mem_every": 3}, str(checkpoint))
    probs, tiers, norms, _ = run(method, frames, {0: first, 2: later}, {1: 0, 2: 2})

    assert probs.shape == (6, 3, 75, 101)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(probs[:2, 2] == 0)
    region = later == 2
    assert np.all(probs[2].argmax(0)[region] == 2) and probs[2, 1][region].max() < 1e-6
    assert probs[3:, 2].max() > 0
    grid = 5 * 7  # 80x112 padded
    # memorised: 0, 2 (object 2 given), then 5 is last: the period restarts at 2
    assert [t["working"] for t in tiers] == [grid, grid, 2 * grid, 2 * grid, 2 * grid, 2 * grid]
    assert [len(n) for n in norms] == [1, 1, 2, 2, 2, 2] and norms[2][1] > 0  # a hidden state per object once given


@pytest.mark.parametrize("settings, net_size", [({}, (480, 640)), ({"resize_short": 48}, (48, 64))])
def test_resizing(checkpoint, settings, net_size):
    frames, mask = small_video((75, 100), frames=2)
    probs, tiers, *_ = run(build(registry.get("xmem").resolve(settings), str(checkpoint)), frames, {0: mask}, {1: 0, 2: 0})
    assert probs.shape == (2, 3, 75, 100)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert tiers[0]["working"] == -(-net_size[0] // 16) * -(-net_size[1] // 16)


def test_settings_are_parsed_and_checked(checkpoint):
    spec_ = registry.get("xmem")
    config = spec_.resolve({"resize_short": "none", "long_term": "false", "deep_update_every": "3"})
    assert config["resize_short"] is None and config["long_term"] is False and config["deep_update_every"] == 3
    assert spec_.defaults()["top_k"] == 30 and spec_.defaults()["max_long_term_elements"] == 10000
    for bad, match in (
        ({"min_mid_term_frames": 10}, "min_mid_term_frames"),
        ({"num_prototypes": 20000}, "max_long_term_elements"),
        ({"deep_update_every": 0}, "deep_update_every"),
        ({"mem_every": 0}, "mem_every"),
        ({"count_usage": 1}, "count_usage"),
    ):
        with pytest.raises(VosbenchError, match=match):
            build(bad, str(checkpoint))


def test_bfloat16_autocast_runs(checkpoint):
    frames, mask = small_video((48, 80), frames=4)
    method = build({"resize_short": None, "mem_every": 1, "max_mid_term_frames": 2, "min_mid_term_frames": 1, "num_prototypes": 8},
                   str(checkpoint), dtype=torch.bfloat16)
    probs, tiers, *_ = run(method, frames, {0: mask}, {1: 0, 2: 0})
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    assert tiers[-2] == {"working": 15, "long_term": 16}  # 3x5 grid; two consolidations of 8 prototypes


# --- the policy under other networks, and in the run's records ------------------


@pytest.mark.parametrize("name", ["stcn", "swiftnet"])
def test_stcn_and_swiftnet_networks_with_xmem_memory(tmp_path, name):
    frames, mask = small_video((48, 80), frames=6)
    settings = {"memory": "xmem", "mem_every": 1, "max_mid_term_frames": 3, "min_mid_term_frames": 2, "num_prototypes": 8}
    build = registry.get(name).factory
    method = build(registry.get(name).resolve(settings), str(write_checkpoint(name, tmp_path / f"{name}.pth")))
    method.start(VideoInfo("t", 6, 48, 80, ObjectIds((1, 2)), {1: 0, 2: 0}))
    reports = []
    for t, frame in enumerate(frames):
        assert torch.isfinite(method.step(frame, mask if t == 0 else None, t == 5)).all()
        reports.append(method.memory())
    # 15 positions a frame, 2 objects: consolidations after frames 2, 3 and 4, 8 prototypes each
    assert [r.tiers["long_term"] for r in reports] == [0, 0, 16, 32, 48, 48]
    assert [r.tiers["working"] for r in reports] == [30, 60, 60, 60, 60, 60]
    assert reports[2].events == ("consolidation of 15: long-term 0 -> 8",) and reports[5].events == ()
    with pytest.raises(VosbenchError, match=f"{name}: parameter num_prototypes"):
        build(registry.get(name).resolve({**settings, "num_prototypes": 0}))
    if name == "stcn":
        with pytest.raises(VosbenchError, match="max_frames"):
            build(registry.get("stcn").resolve({"memory": "xmem", "max_frames": 3}))
    else:
        assert method.memory_policy.top_k is None  # SwiftNet's own default: every entry is read


def test_swem_network_with_xmem_memory(tmp_path):
    from methods.memory.em_bases import entry_feature
    from methods.swem import build as build_swem

    frames, mask = small_video((64, 96), frames=6)
    settings = {"memory": "xmem", "mem_every": 1, "max_mid_term_frames": 3, "min_mid_term_frames": 2,
                "num_prototypes": 8, "input_size": None}
    method = build_swem(registry.get("swem").resolve(settings), str(write_checkpoint("swem", tmp_path / "swem.pth")))
    method.start(VideoInfo("t", 6, 64, 96, ObjectIds((1, 2)), {1: 0, 2: 0}))
    reports = []
    for t, frame in enumerate(frames):
        probs = method.step(frame, mask if t == 0 else None, t == 5)
        assert torch.isfinite(probs).all() and probs.shape == (3, 64, 96)
        reports.append(method.memory())
    # 4x6 grid, tiers summed over the 2 objects: the same schedule as any network's
    assert [r.tiers["long_term"] for r in reports] == [0, 0, 16, 32, 48, 48]
    assert [r.tiers["working"] for r in reports] == [48, 96, 96, 96, 96, 96]
    # prototypes carry re-estimated foreground shares; stored frames their hard masks
    keys, foreground = method.bank.foreground_entries()
    assert keys.shape == (128, 72) and foreground.shape == (2, 72)
    stored = foreground[:, 24:]
    assert torch.all((stored == 0) | (stored == 1)) and stored.sum() > 0
    assert torch.all((foreground >= 0) & (foreground <= 1 + 1e-5))
    assert entry_feature(torch.randn(128, 24), keys, foreground, top_l=64).shape == (2, 128, 24)
    with pytest.raises(VosbenchError, match="cannot exceed num_bases"):
        build_swem(registry.get("swem").resolve({"num_bases": 8}))  # the EM bases' own check still holds


def test_training_free_run_records_tiers_and_events(tmp_path):
    from vosbench.data import open_dataset
    from vosbench.run import MethodChoice, RunConfig, load_run, run as run_dataset

    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=1, frames=8, objects=2, size="48x64")
    settings = {"mem_every": 1, "max_mid_term_frames": 3, "min_mid_term_frames": 2, "num_prototypes": 4, "tf_stride": 16}
    run_dataset(RunConfig((MethodChoice.of("xmem", settings), MethodChoice.of("stcn", {"tf_stride": 16}))), data, tmp_path / "run")
    frames = load_run(tmp_path / "run").frames
    xmem = frames[frames["method"] == "xmem"].sort_values("frame")
    # 3x4 grid, 2 objects: working holds 2 or 3 frames, 4 prototypes per consolidation (after frames 2..6)
    assert xmem["working_features"].tolist() == [24, 48, 48, 48, 48, 48, 48, 48]
    assert xmem["long_term_features"].tolist() == [0, 0, 8, 16, 24, 32, 40, 40]
    assert (xmem["stored_features"] == xmem["working_features"] + xmem["long_term_features"]).all()
    assert xmem["memory_events"].isna().tolist() == [True, True, False, False, False, False, False, True]
    assert xmem["sensory_features"].isna().all()  # the weightless mode has no sensory memory
    stcn = frames[frames["method"] == "stcn"]
    assert stcn["working_features"].isna().all() and stcn["memory_events"].isna().all()
