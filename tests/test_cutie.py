"""Cutie: the official conformance cases through the checkpoint loader (fast path on and
off), bad checkpoints, single-object and base-model checkpoints, its memory parts (FIFO
with a permanent first frame, object memory) and settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conformance import load_case, spec, synthetic_state_dict, synthetic_value, write_checkpoint
from methods.cutie import build
from methods.cutie.method import stagger_offsets
from methods.cutie.network import Cutie, load_cutie
from methods.memory.fifo import FifoMemory
from vosbench import registry
from vosbench.data.video import VideoInfo
from vosbench.errors import VosbenchError
from vosbench.masks import ObjectIds


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint("cutie", tmp_path_factory.mktemp("cutie") / "cutie-small.pth")


def case_settings(case: str) -> dict:
    """The registered parameters of a case's memory settings."""
    memory = spec("cutie")["cases"][case]["memory"]
    settings = {name: memory[name] for name in ("top_k", "mem_every", "stagger_updates")}
    settings["long_term"] = memory["use_long_term"]
    if memory["use_long_term"]:
        lt = memory["long_term"]
        settings.update(
            count_usage=lt["count_usage"], max_mid_term_frames=lt["max_mem_frames"], min_mid_term_frames=lt["min_mem_frames"],
            num_prototypes=lt["num_prototypes"], max_long_term_elements=lt["max_num_tokens"], buffer_tokens=lt["buffer_tokens"],
        )
    else:
        settings["max_mem_frames"] = memory["max_mem_frames"]
    return settings


def run(method, frames: list[np.ndarray], given: dict[int, np.ndarray], first_frame: dict[int, int]):
    """Drive ``method``; returns probabilities [T, K+1, H, W], the pixel memory's tiers
    and the object memory's frame count after each frame."""
    h, w = frames[0].shape[:2]
    method.start(VideoInfo("test", len(frames), h, w, ObjectIds(tuple(sorted(first_frame))), first_frame))
    probs, tiers, counts = [], [], []
    for t, frame in enumerate(frames):
        probs.append(method.step(frame, given.get(t), t == len(frames) - 1).numpy())
        tiers.append(method.bank.tiers())
        counts.append(method.objects.count)
    return np.stack(probs), tiers, counts


def small_video(size: tuple[int, int], frames: int = 5) -> tuple[list[np.ndarray], np.ndarray]:
    """Real frames and the 2-object first mask of the car-shadow case resized to ``size`` (H, W)."""
    case = load_case("cutie", "car-shadow-2obj")
    resized = [np.asarray(Image.fromarray(f).resize(size[::-1], Image.BILINEAR)) for f in case["frames"][:frames]]
    mask = np.asarray(Image.fromarray(case["mask0"]).resize(size[::-1], Image.NEAREST))
    return resized, mask


# --- conformance -----------------------------------------------------------------


@pytest.mark.conformance
# The lowered-ISA pass (`-m "conformance and not native_only"`) covers the default fast
# path; the official arithmetic on the baseline kernels would add minutes to CI for
# convolutions the other networks' lowered cases already run.
@pytest.mark.parametrize(
    "fast_conv",
    [True, pytest.param(False, marks=pytest.mark.native_only)],
    ids=["fast", "official-arithmetic"],
)
@pytest.mark.parametrize("case", ["blackswan-1obj", "car-shadow-2obj", "blackswan-1obj-longterm"])
def test_conformance(case, fast_conv, checkpoint):
    data = load_case("cutie", case)
    method = build({**case_settings(case), "resize_short": None, "fast_conv": fast_conv}, str(checkpoint))
    ids = sorted(int(v) for v in np.unique(data["mask0"]) if v)
    probs, tiers, counts = run(method, data["frames"], {0: data["mask0"]}, {i: 0 for i in ids})

    assert [t["working"] for t in tiers] == data["pixel_mem_size"].tolist()
    assert [t.get("long_term", 0) for t in tiers] == data["long_mem_size"].tolist()
    if "permanent" in tiers[0]:  # the FIFO reports it; XMem's policy keeps its first frame the same way
        assert [t["permanent"] for t in tiers] == data["perm_mem_size"].tolist()
    assert counts == data["obj_mem_count"].tolist()
    assert np.diff([0, *counts]).tolist() == data["memorised"].tolist()

    # README's check: a top-k near-tie may pick another 30th entry (max 2.5e-3 seen); 10x that
    assert probs.shape == data["prob"].shape
    delta = np.abs(probs - data["prob"])
    assert delta.max() <= 2.5e-2, delta.max()
    assert delta.reshape(len(probs), -1).mean(axis=1).max() <= 3e-4
    top2 = np.sort(data["prob"], axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 2.5e-2
    assert np.array_equal(probs.argmax(1)[clear], data["mask"][clear])


def test_stagger_offsets_follow_the_cases():
    for case in ("blackswan-1obj", "car-shadow-2obj", "blackswan-1obj-longterm"):
        memory = spec("cutie")["cases"][case]["memory"]
        assert stagger_offsets(memory["mem_every"], memory["stagger_updates"]) == set(memory["stagger_set"])
    assert stagger_offsets(5, 5) == {1, 2, 3, 4, 5} and stagger_offsets(5, 2) == {1, 5} and stagger_offsets(4, 3) == {1, 2, 4}


# --- checkpoints -----------------------------------------------------------------


def test_the_state_dict_has_the_official_names_and_shapes():
    official = {name: tuple(shape) for name, shape in spec("cutie")["state_dict"] if not name.startswith("aux_computer.")}
    assert {k: tuple(v.shape) for k, v in Cutie().state_dict().items()} == official


def test_base_model_is_told_apart_from_the_weights(tmp_path):
    # the base model's layout (ResNet-50 pixel encoder): 527 entries with the training head
    names = {k: tuple(v.shape) for k, v in Cutie("resnet50").state_dict().items()}
    aux = {n: tuple(s) for n, s in spec("cutie")["state_dict"] if n.startswith("aux_computer.")}
    assert len(names) + len(aux) == 527
    assert names["pixel_encoder.layer3.0.conv3.weight"] == (1024, 256, 1, 1) and names["pix_feat_proj.weight"] == (256, 1024, 1, 1)
    state = {n: torch.from_numpy(synthetic_value(n, list(s), 0.65)) for n, s in {**names, **aux}.items()}
    path = tmp_path / "cutie-base.pth"
    torch.save(state, path)
    network = load_cutie(path)
    assert network.arch == "resnet50"
    frames, mask = small_video((48, 64), frames=3)
    probs, tiers, _ = run(build({"resize_short": None}, str(path)), frames, {0: mask}, {1: 0, 2: 0})
    assert np.isfinite(probs).all() and tiers[-1]["working"] == 12
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda s: s.pop("object_transformer.blocks.1.ffn.linear1.weight"), r"missing: object_transformer\.blocks\.1\.ffn\.linear1\.weight"),
        (lambda s: s.update({"mask_decoder.pred.weight": torch.zeros(1, 64, 3, 3)}), r"wrong shape .*mask_decoder\.pred\.weight \(1, 64, 3, 3\) vs \(1, 128, 3, 3\)"),
        (lambda s: s.update({"object_transformer.blocks.3.ffn.norm.weight": torch.ones(256)}), r"unexpected: object_transformer\.blocks\.3\.ffn\.norm\.weight"),
        (lambda s: s.pop("object_summarizer.pos_enc.inv_freq"), r"missing: object_summarizer\.pos_enc\.inv_freq"),
    ],
    ids=["missing", "wrong-shape", "unexpected", "missing-buffer"],
)
def test_a_mismatching_checkpoint_is_one_line_naming_the_entry(tmp_path, change, match):
    state = synthetic_state_dict("cutie")
    change(state)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(VosbenchError, match=match) as error:
        load_cutie(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


@pytest.mark.parametrize("content", [[torch.zeros(3)], torch.zeros(3), {"epoch": 3}], ids=["list", "tensor", "no-tensors"])
def test_not_a_state_dict(tmp_path, content):
    path = tmp_path / "other.pth"
    torch.save(content, path)
    with pytest.raises(VosbenchError, match="no state dict found") as error:
        load_cutie(path)
    assert "\n" not in str(error.value)


def test_other_checkpoints_and_files_are_refused(tmp_path):
    path = write_checkpoint("xmem", tmp_path / "XMem.pth")
    with pytest.raises(VosbenchError, match="does not match the Cutie network; missing: pixel_encoder.conv1.weight"):
        load_cutie(path)
    state = synthetic_state_dict("cutie")
    del state["key_proj.key_proj.weight"]
    torch.save(state, tmp_path / "keyless.pth")
    with pytest.raises(VosbenchError, match="not a Cutie checkpoint: it lacks key_proj.key_proj.weight"):
        load_cutie(tmp_path / "keyless.pth")
    with pytest.raises(VosbenchError, match="not found"):
        build({}, str(tmp_path / "absent.pth"))


def test_training_head_is_ignored_and_single_object_checkpoints_widen(tmp_path, checkpoint):
    state = {k: v for k, v in synthetic_state_dict("cutie").items() if not k.startswith("aux_computer.")}
    state["mask_encoder.conv1.weight"] = state["mask_encoder.conv1.weight"][:, :4].clone()
    state["pixel_fuser.sensory_compress.weight"] = state["pixel_fuser.sensory_compress.weight"][:, :257].clone()
    path = tmp_path / "single.pth"
    torch.save(state, path)
    network, full = load_cutie(path), load_cutie(checkpoint)
    for name, channels in (("mask_encoder.conv1.weight", 4), ("pixel_fuser.sensory_compress.weight", 257)):
        loaded, reference = network.state_dict()[name], full.state_dict()[name]
        assert loaded.shape == reference.shape
        assert torch.equal(loaded[:, :channels], reference[:, :channels]) and not loaded[:, channels:].any()

    # for one object the "others" channels are zeros, so their weights change nothing
    frames, mask = small_video((48, 80), frames=3)
    single = (mask > 0).astype(np.uint8)
    a, *_ = run(build({"resize_short": None, "mem_every": 1}, str(path)), frames, {0: single}, {1: 0})
    b, *_ = run(build({"resize_short": None, "mem_every": 1}, str(checkpoint)), frames, {0: single}, {1: 0})
    np.testing.assert_array_equal(a, b)


# --- memory parts ----------------------------------------------------------------


def fifo_frames(policy: FifoMemory, frames: int, n: int = 6) -> list[list[int]]:
    """Write ``frames`` frames (policy permitting) whose keys carry their index; the
    frame indices held after each."""
    policy.reset(1)
    held = []
    for t in range(frames):
        if policy.wants(t, t == frames - 1):
            keys = torch.full((1, 4, n), float(t))
            policy.write(t, keys, torch.zeros(1, 8, n), torch.zeros(1, n))
        held.append(sorted({int(k) for k in policy._keys[0].tolist()}))
    return held


def test_fifo_keeps_the_first_frame_and_the_newest():
    held = fifo_frames(FifoMemory(every=2, max_frames=3, permanent="first"), 10)
    assert held[4] == [0, 2, 4] and held[6] == [0, 4, 6] and held[8] == [0, 6, 8] and held[9] == [0, 6, 8]
    held = fifo_frames(FifoMemory(every=2, max_frames=3, permanent="none"), 10)
    assert held[6] == [2, 4, 6] and held[8] == [4, 6, 8]
    policy = FifoMemory(every=1, max_frames=2)
    fifo_frames(policy, 5)
    assert policy.tiers() == {"working": 12, "permanent": 6} and policy.stored_features() == [12]
    # everything held per entry leaves with it: the bytes stay as the frames do
    held = policy.nbytes()
    fifo_frames(policy, 20)
    keys, foreground = policy.foreground_entries()
    assert keys.shape[1] == foreground.shape[1] == 12 and policy.nbytes() == held
    with pytest.raises(ValueError, match="permanent first frame"):
        FifoMemory(max_frames=1)


def test_object_memory_and_sensory_memory_are_reported_as_tiers(checkpoint):
    frames, mask = small_video((48, 80), frames=4)
    method = build({"resize_short": None, "mem_every": 1, "max_mem_frames": 2}, str(checkpoint))
    method.start(VideoInfo("t", 4, 48, 80, ObjectIds((1, 2)), {1: 0, 2: 0}))
    reports = []
    for t, frame in enumerate(frames):
        method.step(frame, mask if t == 0 else None, t == 3)
        reports.append(method.memory())
    grid = 3 * 5
    assert [r.tiers["working"] for r in reports] == [2 * grid, 4 * grid, 4 * grid, 4 * grid]
    assert all(r.tiers["permanent"] == 2 * grid and r.tiers["object"] == 2 * 16 and r.tiers["sensory"] == 2 * grid for r in reports)
    assert method.objects.count == 3  # frames 0, 1, 2: summaries added up, never evicted


def test_object_given_at_a_later_frame(checkpoint):
    frames, mask = small_video((64, 96), frames=5)
    first = (mask == 1).astype(np.uint8)
    later = np.where(mask == 2, 2, 0).astype(np.uint8)
    method = build({"resize_short": None, "mem_every": 3}, str(checkpoint))
    probs, tiers, counts = run(method, frames, {0: first, 2: later}, {1: 0, 2: 2})
    assert probs.shape == (5, 3, 64, 96)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(probs[:2, 2] == 0) and np.all(probs[2].argmax(0)[later == 2] == 2)
    assert probs[3:, 2].max() > 0 and counts == [1, 1, 2, 2, 2]


# --- settings ----------------------------------------------------------------------


def test_settings_are_parsed_and_checked(checkpoint):
    spec_ = registry.get("cutie")
    defaults = spec_.defaults()
    assert (defaults["mem_every"], defaults["top_k"], defaults["max_mem_frames"], defaults["stagger_updates"]) == (5, 30, 5, 5)
    assert defaults["long_term"] is False and defaults["buffer_tokens"] == 2000 and defaults["resize_short"] == 480
    assert (defaults["max_mid_term_frames"], defaults["min_mid_term_frames"], defaults["num_prototypes"], defaults["max_long_term_elements"]) == (10, 5, 128, 10000)
    config = spec_.resolve({"resize_short": "none", "long_term": "true", "permanent": "none"})
    assert config["resize_short"] is None and config["long_term"] is True and config["permanent"] == "none"
    for bad, match in (
        ({"max_mem_frames": 1}, "permanent first frame"),
        ({"stagger_updates": 0}, "stagger_updates"),
        ({"long_term": True, "buffer_tokens": 9950}, "buffer_tokens"),
        ({"permanent": "all"}, "permanent"),
        ({"resize_short": 0}, "resize_short"),
        ({"max_frames": 3}, "no parameter 'max_frames'"),
    ):
        with pytest.raises(VosbenchError, match=match):
            build(bad, str(checkpoint))


def test_long_videos_and_generic_videos_get_the_official_long_term_memory(tmp_path):
    from vosbench.data import open_dataset
    from vosbench.run import choose_methods

    # eval_config.yaml: long-term memory on for LVOS and generic videos (those as given), off for DAVIS
    for family, long_term, resize_short in (
        ("davis", False, 480), ("youtube", False, 480), ("mose", False, 480),
        ("lvos", True, 480), ("ltv", True, 480), ("sav", True, 480), ("generic", True, None),
    ):
        (choice,) = choose_methods(["cutie"], [], [], family)
        assert (choice.settings["long_term"], choice.settings["resize_short"]) == (long_term, resize_short), family
    (choice,) = choose_methods(["cutie"], ["long_term=false"], [], "lvos")  # what the user sets wins
    assert choice.settings["long_term"] is False
    for layout, family in (("lvos", "lvos"), ("davis", "davis"), ("mose", "mose"), ("ltv", "ltv"), ("sav", "sav")):
        data = open_dataset("synthetic", tmp_path / layout, layout=layout, videos=1, frames=24, objects=1, size="32x48")
        assert data.family == family


def test_dataset_defaults_must_name_parameters():
    with pytest.raises(ValueError, match="unknown parameters"):
        registry.register("cutie-typo", params=registry.get("cutie").params, dataset_defaults={"lvos": {"longterm": True}})


def test_frames_are_only_shrunk(checkpoint):
    frames, mask = small_video((75, 100), frames=2)
    for settings, grid in (({"resize_short": 48}, 3 * 4), ({}, 5 * 7)):  # 48x64; 75x100 padded to 80x112
        probs, tiers, _ = run(build(settings, str(checkpoint)), frames, {0: mask}, {1: 0, 2: 0})
        assert probs.shape == (2, 3, 75, 100) and tiers[0]["working"] == grid


@pytest.mark.parametrize("long_term", [False, True], ids=["fifo", "long-term"])
def test_bfloat16_autocast_runs(checkpoint, long_term):
    frames, mask = small_video((48, 80), frames=4)
    settings = {"resize_short": None, "mem_every": 1, "long_term": long_term, "max_mid_term_frames": 2,
                "min_mid_term_frames": 1, "num_prototypes": 8, "buffer_tokens": 0}
    probs, tiers, counts = run(build(settings, str(checkpoint), dtype=torch.bfloat16), frames, {0: mask}, {1: 0, 2: 0})
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    # 3x5 grid: FIFO of 5 frames; long-term: two consolidations of 8 prototypes
    assert tiers[-1] == ({"working": 15, "long_term": 16} if long_term else {"working": 45, "permanent": 15})
    assert counts == [1, 2, 3, 3]


# --- the FIFO under other networks, and in the run's records -----------------------


def test_stcn_network_with_fifo_memory(tmp_path):
    from methods.stcn import build as build_stcn

    frames, mask = small_video((48, 80), frames=6)
    settings = registry.get("stcn").resolve({"memory": "fifo", "mem_every": 1, "max_mem_frames": 3})
    method = build_stcn(settings, str(write_checkpoint("stcn", tmp_path / "stcn.pth")))
    method.start(VideoInfo("t", 6, 48, 80, ObjectIds((1, 2)), {1: 0, 2: 0}))
    reports = []
    for t, frame in enumerate(frames):
        assert torch.isfinite(method.step(frame, mask if t == 0 else None, t == 5)).all()
        reports.append(method.memory())
    # 15 positions a frame, 2 objects: frame 0 and the two newest of frames 1..4 (5 is last)
    assert [r.tiers["working"] for r in reports] == [30, 60, 90, 90, 90, 90]
    assert all(r.tiers["permanent"] == 30 for r in reports) and reports[-1].per_object == (45, 45)
    with pytest.raises(VosbenchError, match="max_mem_frames"):
        build_stcn(registry.get("stcn").resolve({"memory": "fifo", "max_frames": 3}))


def test_training_free_run_records_the_fifo_tiers(tmp_path):
    from vosbench.data import open_dataset
    from vosbench.run import MethodChoice, RunConfig, load_run, run as run_dataset

    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=1, frames=8, objects=2, size="48x64")
    for permanent, working in (("first", [24, 24, 48, 48, 72, 72, 72, 72]), ("none", [24, 24, 48, 48, 72, 72, 72, 72])):
        settings = {"mem_every": 2, "max_mem_frames": 3, "permanent": permanent, "tf_stride": 16}
        run_dataset(RunConfig((MethodChoice.of("cutie", settings),)), data, tmp_path / permanent)
        frames = load_run(tmp_path / permanent).frames.sort_values("frame")
        # 3x4 grid, 2 objects: written at 0, 2, 4, 6 (7 is last), at most 3 frames held
        assert frames["working_features"].tolist() == working
        assert (frames["stored_features"] == frames["working_features"]).all()
        assert frames["permanent_features"].tolist() == [24 if permanent == "first" else 0] * 8
        assert frames["object_features"].isna().all()  # the weightless mode has no object memory


def test_run_records_the_object_and_sensory_memories(tmp_path, checkpoint):
    from vosbench.data import open_dataset
    from vosbench.run import MethodChoice, RunConfig, load_run, run as run_dataset

    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=1, frames=5, objects=2, size="48x64")
    choice = MethodChoice.of("cutie", {"mem_every": 2, "max_mem_frames": 2}, checkpoint=str(checkpoint))
    run_dataset(RunConfig((choice,)), data, tmp_path / "run")
    frames = load_run(tmp_path / "run").frames.sort_values("frame")
    # 3x4 grid, 2 objects: frames 0 and 2 written (4 is last); the FIFO keeps frame 0 and the newest
    assert frames["working_features"].tolist() == [24, 24, 48, 48, 48]
    assert frames["permanent_features"].tolist() == [24] * 5
    assert frames["object_features"].tolist() == [32] * 5  # 16 summaries per object, accumulated
    assert frames["sensory_features"].tolist() == [24] * 5


def test_redundancy_of_the_pixel_keys_and_the_object_summaries(tmp_path, checkpoint):
    from vosbench.data import open_dataset
    from vosbench.redundancy.analysis import Settings
    from vosbench.redundancy.run import RedundancyConfig, run_redundancy

    data = open_dataset("synthetic", tmp_path / "data", layout="davis", videos=1, frames=5, objects=2, size="48x64")
    config = RedundancyConfig("cutie", str(checkpoint), analysis=Settings(bases=4, bank_every=2))
    tables = run_redundancy(config, data, tmp_path / "out", figures=False)
    frames = tables.frames.set_index("frame")
    assert tables.sequences["positions"].tolist() == [12]  # the 3x4 key grid
    assert frames["object_written"].tolist() == [True, False, True, False, False]
    assert frames["object_stored"].tolist() == [32] * 5  # 16 summaries per object

    # recount from the summaries the method gives for the ground truth of frames 0 and 2
    method = build({}, str(checkpoint))
    video = data.video(data.sequences[0])
    sums = 0
    for t in (0, 2):
        labels = video.info.objects.to_contiguous(video.gt_mask(t))
        masks = (torch.from_numpy(labels)[None] == torch.arange(1, 3)[:, None, None]).float()
        sums = sums + method.object_summaries(video.frame(t), masks).double().numpy()
        values = sums[..., :-1] / (sums[..., -1:] + 1e-4)
        units = values / np.linalg.norm(values, axis=-1, keepdims=True)
        cosines = units @ units.transpose(0, 2, 1) - 2 * np.eye(16)  # not its own neighbour
        assert frames.loc[t, "object_redundant"] == int((cosines.max(axis=-1) >= 0.9).sum())


def test_run_sweep_and_redundancy_take_the_dataset_familys_defaults(monkeypatch, capsys, tmp_path):
    import json
    import sys

    import cli
    from vosbench.data import open_dataset

    open_dataset("synthetic", tmp_path / "data", layout="lvos", videos=1, frames=20, objects=1, size="32x48")
    common = ["-d", "lvos", "--root", str(tmp_path / "data"), "--max-frames", "2"]
    for command, out in (
        (["run", "-m", "cutie", "--no-telemetry"], "run"),
        (["sweep", "-m", "cutie", "--grid", "max_mem_frames=2,3", "--no-telemetry"], "sweep"),
        (["redundancy", "-f", "cutie", "--bases", "4"], "redundancy"),
    ):
        monkeypatch.setattr(sys, "argv", ["vosbench", *command, *common, "-o", str(tmp_path / out)])
        with pytest.raises(SystemExit) as done:
            cli.main()
        assert not done.value.code, capsys.readouterr().err
        manifest = json.loads((tmp_path / out / "manifest.json").read_text())
        settings = [manifest["settings"]] if out == "redundancy" else [m["settings"] for m in manifest["config"]["methods"]]
        assert [s["long_term"] for s in settings] == [True] * len(settings), out
