"""SWEM end to end: the official conformance cases through the checkpoint loader, bad
checkpoints, late objects, odd sizes, settings and bfloat16 autocast."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from conformance import assert_bases_close, assert_draw_equal, load_case, write_checkpoint
from methods.swem import build
from vosbench import registry
from vosbench.data.video import VideoInfo
from vosbench.errors import VosbenchError
from vosbench.masks import ObjectIds


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # The references were made with one thread; the near-hard E-step amplifies the
    # round-off of other thread counts in the EM state (README: "Reproducibility").
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    # the official file is a flat state dict saved with torch.save
    return str(write_checkpoint("swem", tmp_path_factory.mktemp("swem") / "swem.pth"))


def video_info(name: str, frames: list[np.ndarray], first_frame: dict[int, int]) -> VideoInfo:
    h, w = frames[0].shape[:2]
    return VideoInfo(name, len(frames), h, w, ObjectIds(tuple(sorted(first_frame))), first_frame)


def run(method, frames: list[np.ndarray], given: dict[int, np.ndarray], first_frame: dict[int, int]) -> dict:
    """Drive ``method`` over ``frames`` (``given``: frame index -> new-object mask) and
    record per frame what the conformance files hold."""
    method.start(video_info("test", frames, first_frame))
    trace = {key: [] for key in ("prob", "used", "stored", "memorized", "kappa_norm", "nu_norm", "zita")}
    latest = None
    for t, frame in enumerate(frames):
        trace["used"].append(method.bank.bases_per_group())  # what this frame's read matches
        trace["prob"].append(method.step(frame, given.get(t), t == len(frames) - 1).numpy())
        trace["stored"].append(method.memory().per_object)
        bank = method.bank.update or method.bank.first  # the bank written most recently
        trace["memorized"].append(bank is not latest)
        latest = bank
        if bank is not None:
            trace["kappa_norm"].append(bank.keys.norm(dim=-2).numpy())
            trace["nu_norm"].append(bank.values.norm(dim=-2).numpy())
            trace["zita"].append(bank.masses.numpy())
    trace["prob"] = np.stack(trace["prob"])
    return trace


def small_video(size: tuple[int, int], frames: int = 5) -> tuple[list[np.ndarray], np.ndarray]:
    """Real frames and the 2-object first mask of the car-shadow case, resized to ``size`` (H, W)."""
    case = load_case("swem", "car-shadow-2obj", "expected_native.npz")
    resized = [np.asarray(Image.fromarray(f).resize(size[::-1], Image.BILINEAR)) for f in case["frames"][:frames]]
    mask = np.asarray(Image.fromarray(case["mask0"]).resize(size[::-1], Image.NEAREST))
    return resized, mask


# --- conformance -----------------------------------------------------------------

CASES = [
    ("blackswan-1obj", "expected_native.npz", True),
    ("car-shadow-2obj", "expected_native.npz", True),
    # The evaluator's 480x864 pipeline: the same arithmetic as the native cases on 4x the
    # pixels, the longest cases (75 s natively, minutes on the baseline kernels), so the
    # lowered-ISA pass (`-m conformance`) leaves them to the native pass.
    pytest.param("blackswan-1obj", "expected.npz", True, marks=pytest.mark.native_only),
    pytest.param("car-shadow-2obj", "expected.npz", True, marks=pytest.mark.native_only),
    # oneDNN's direct convolutions, the official code's arithmetic (fast_conv=false)
    ("blackswan-1obj", "expected_native.npz", False),
    ("car-shadow-2obj", "expected_native.npz", False),
]


@pytest.mark.conformance
@pytest.mark.parametrize("case, file, fast_conv", CASES)
def test_conformance(case, file, fast_conv, checkpoint):
    data = load_case("swem", case, file)
    frames = data["frames"][: len(data["prob"])]  # the native file keeps the first 5 frames
    # expected.npz is the evaluator's default pipeline (frames stretched to 480x864)
    config = {"fast_conv": fast_conv} | ({} if file == "expected.npz" else {"input_size": None})
    method = build(config, checkpoint)
    ids = sorted(int(v) for v in np.unique(data["mask0"]) if v)
    got = run(method, frames, {0: data["mask0"]}, {i: 0 for i in ids})

    assert_draw_equal(method.bank.initial_keys, torch.from_numpy(data["kappa_init"]))  # seed 0
    # the near-hard E-step amplifies round-off (Winograd's, another instruction set's):
    # the README's 1e-3 relative on the bases, its measured spread between official runs
    assert_bases_close(method.bank.first.keys, torch.from_numpy(data["kappa_frame0"]))

    expected = data["prob"]
    assert got["prob"].shape == expected.shape and got["prob"].dtype == np.float32
    assert np.array_equal(got["prob"][0], expected[0])  # the given one-hot
    delta = np.abs(got["prob"] - expected)
    assert delta.max() <= 1e-5, delta.max()
    assert delta.reshape(len(expected), -1).mean(axis=1).max() <= 1e-6
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1e-4
    assert np.array_equal(got["prob"].argmax(1)[clear], data["mask"][clear])

    assert [s[0] for s in got["stored"]] == data["mem_size"].tolist()
    assert all(len(set(s)) == 1 for s in got["stored"])
    assert got["used"] == data["mem_used_per_group"].tolist()
    assert got["memorized"] == data["memorized"].tolist()
    # The near-hard E-step amplifies round-off (the README: over 10 native frames the official
    # run's base masses drift by up to 2.3 between thread counts alone, while prob stays
    # within 1e-4). Another instruction set (AVX2 against the stored values) or Winograd's
    # rounding moves a few masses by up to 0.5 % within these 5 frames; the probabilities
    # above stay within 1e-6. So the per-base statistics are held to 1e-2 on every path.
    rtol = 1e-2
    for key in ("kappa_norm", "nu_norm", "zita"):
        np.testing.assert_allclose(np.stack(got[key]), data[key], rtol=rtol, atol=1e-5, err_msg=key)


# --- checkpoints -----------------------------------------------------------------


class Payload:
    """A pickled object that weights_only loading must refuse to construct."""


def test_build_without_checkpoint_is_training_free():
    from methods.memory.em_bases import EMBases
    from methods.training_free.propagation import LabelPropagation

    method = build({})
    assert isinstance(method, LabelPropagation) and isinstance(method.memory_policy, EMBases)


@pytest.mark.parametrize(
    "content, message",
    [
        ({"key_proj.key_proj.weight": torch.zeros(128, 1024, 3, 3), "extra.weight": torch.zeros(2)},
         r"SWEM network; missing: key_encoder\.mean.*unexpected: extra\.weight"),
        ({"swem_core.fusion_layer.layer_f.weight": torch.zeros(512, 1024, 3, 3)},
         r"wrong shape .*swem_core\.fusion_layer\.layer_f\.weight \(512, 1024, 3, 3\) vs \(512, 1152, 3, 3\)"),
        ({"model": Payload()}, r"holds objects other than tensors .*Payload.*refused for safety.*weights_only=True"),
        (np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not a PyTorch checkpoint"),
        (pickle.dumps({"model": Payload()}, protocol=2), r"holds objects other than tensors .*Payload.*refused for safety"),
    ],
    ids=["wrong-keys", "wrong-shape", "pickled-object", "random-bytes", "plain-pickled-object"],
)
def test_bad_checkpoints_give_one_line(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(VosbenchError, match=message) as error:
        build({}, str(path))
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(VosbenchError, match=r"absent\.pth: checkpoint file not found"):
        build({}, str(tmp_path / "absent.pth"))


# --- behaviour beyond the cases --------------------------------------------------


def test_object_given_at_a_later_frame(checkpoint):
    frames, mask = small_video((75, 101), frames=6)
    first = (mask == 1).astype(np.uint8)
    later = np.where(mask == 2, 2, 0).astype(np.uint8)
    method = build({"input_size": None}, checkpoint)
    got = run(method, frames, {0: first, 3: later}, {1: 0, 2: 3})
    probs = got["prob"]

    assert probs.shape == (6, 3, 75, 101) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(probs[:3, 2] == 0)  # not given yet
    region = later == 2
    assert np.all(probs[3, 2][region] == 1) and np.all(probs[3, :2][:, region] == 0)  # the given mask, as given
    assert np.all(probs[3, 2][~region] == 0)
    assert 0 < probs[4:, 2].min() and probs[4:, 2].max() < 1  # and segmented afterwards
    assert got["stored"] == [(256, 0), (512, 0), (512, 0), (512, 512), (512, 512), (512, 512)]
    # object 2's first bank is its result at frame 3, and the update bank holds both objects from then on
    assert method.bank.first.num_objects == method.bank.update.num_objects == 2

    # before object 2 appears, object 1 is segmented exactly as in a video without it
    alone = run(build({"input_size": None}, checkpoint), frames[:3], {0: first}, {1: 0})
    np.testing.assert_array_equal(probs[:3, :2], alone["prob"])


def test_frames_before_any_object_are_background(checkpoint):
    frames, mask = small_video((48, 64), frames=4)
    given = (mask > 0).astype(np.uint8)
    got = run(build({"input_size": None}, checkpoint), frames, {2: given}, {1: 2})
    probs = got["prob"]
    assert np.all(probs[:2, 0] == 1) and np.all(probs[:2, 1] == 0)
    assert got["stored"][:2] == [(0,), (0,)] and got["stored"][2] == (256,)
    assert np.array_equal(probs[2, 1], given.astype(np.float32))
    assert 0 < probs[3, 1].min() and probs[3, 1].max() < 1


@pytest.mark.parametrize(
    "size, settings",
    [((75, 101), {"input_size": None}), ((20, 30), {"input_size": None}), ((75, 101), {"input_size": "72x104"})],
    ids=["native-odd", "native-tiny", "resized"],
)
def test_any_resolution(checkpoint, size, settings):
    # 20x30 gives a 2x2 key grid: 4 pixels against 128 bases per group
    frames, mask = small_video(size, frames=3)
    got = run(build(settings, checkpoint), frames, {0: mask}, {1: 0, 2: 0})
    probs = got["prob"]
    assert probs.shape == (3, 3, *size)
    assert np.isfinite(probs).all() and probs.min() >= 0 and probs.max() <= 1
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert got["stored"] == [(256, 256), (512, 512), (512, 512)]


def test_each_video_starts_afresh(checkpoint):
    frames, mask = small_video((48, 64), frames=3)
    method = build({"input_size": None}, checkpoint)
    a = run(method, frames, {0: mask}, {1: 0, 2: 0})
    b = run(method, frames, {0: mask}, {1: 0, 2: 0})
    np.testing.assert_array_equal(a["prob"], b["prob"])  # same seed, same initial bases
    c = run(build({"input_size": None, "seed": 1}, checkpoint), frames, {0: mask}, {1: 0, 2: 0})
    assert not np.array_equal(a["prob"][1:], c["prob"][1:])


def test_memory_report_counts_bases_and_bytes(checkpoint):
    frames, mask = small_video((48, 64), frames=3)
    method = build({"input_size": None, "num_bases": 64}, checkpoint)
    got = run(method, frames, {0: mask}, {1: 0, 2: 0})
    assert got["stored"] == [(128, 128), (256, 256), (256, 256)]
    report = method.memory()
    # two banks x 2 objects x 2 groups x 64 bases of a 128-d key, a 512-d value and a mass
    assert report.nbytes == 2 * 2 * 2 * 64 * (128 + 512 + 1) * 4 and report.matched is None


def test_registry_and_settings(checkpoint):
    spec = registry.get("swem")
    assert spec.defaults() == {
        "num_bases": 128, "em_iters": 4, "tau": 0.05, "top_l": 64, "adaptive": True, "seed": 0, "input_size": "480x864", "fast_conv": True,
        # XMem's memory, taken with memory=xmem, at its official defaults
        "memory": "em_bases", "mem_every": 5, "top_k": 30, "long_term": True, "count_usage": True, "max_mid_term_frames": 10,
        "min_mid_term_frames": 5, "num_prototypes": 128, "max_long_term_elements": 10000,
        "features": "pretrained", "tf_scales": "8+16", "tf_colour": 1.0, "tf_stride": 8, "tf_xy": 0.25, "tf_rff": 128, "tf_sigma": 0.1, "tf_gain": 32.0, "tf_guide": 0.05, "tf_const": 0.3,
    }
    config = spec.resolve({"input_size": "none", "num_bases": "96", "adaptive": "false"})
    method = spec.factory(config, checkpoint)
    assert method.input_size is None and method.bank.num_bases == 96 and method.bank.adaptive is False
    assert build({"input_size": "64x80"}, checkpoint).input_size == (64, 80)
    for settings, message in (
        ({"top_l": 32}, "top_l=32 does not fit"),
        ({"num_bases": 32}, r"top_l \(64\) cannot exceed num_bases \(32\)"),
        ({"tau": 0}, "tau must be a positive number"),
        ({"em_iters": 0}, "em_iters must be an integer >= 1"),
        ({"adaptive": "yes"}, "adaptive must be true or false"),
        ({"input_size": "big"}, "input_size"),
        ({"max_frames": 5}, "no parameter 'max_frames'"),
        ({"memory": "xmem", "num_prototypes": 0}, "swem: parameter num_prototypes"),
    ):
        with pytest.raises(VosbenchError, match=message):
            build(settings, checkpoint)


def test_bad_frames_and_masks(checkpoint):
    frames, mask = small_video((48, 64), frames=2)
    method = build({"input_size": None}, checkpoint)
    method.start(video_info("bad", frames, {1: 0, 2: 0}))
    with pytest.raises(VosbenchError, match=r"bad frame 0: mask holds object indices \[3\]"):
        method.step(frames[0], np.where(mask > 0, 3, 0).astype(np.uint8), False)
    with pytest.raises(VosbenchError, match="frame is 32x48"):
        method.step(frames[0][:48, :32], mask, False)
    with pytest.raises(VosbenchError, match="mask is 32x48"):
        method.step(frames[0], mask[:48, :32], False)
    method.step(frames[0], mask, False)
    with pytest.raises(VosbenchError, match="already given"):
        method.step(frames[1], mask, True)


def test_bfloat16_autocast_runs(checkpoint):
    frames, mask = small_video((75, 101), frames=4)
    reference = run(build({"input_size": None}, checkpoint), frames, {0: mask}, {1: 0, 2: 0})
    method = build({"input_size": None}, checkpoint, dtype=torch.bfloat16)
    got = run(method, frames, {0: mask}, {1: 0, 2: 0})
    probs = got["prob"]
    assert probs.dtype == np.float32 and np.isfinite(probs).all()
    assert probs.min() >= 0 and probs.max() <= 1
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    assert got["stored"] == reference["stored"]
    assert method.bank.first.keys.dtype == torch.float32  # the EM runs in float32 whatever the autocast
    delta = np.abs(probs - reference["prob"])
    assert 0 < delta.max() < 0.05 and delta.mean() < 0.01  # bfloat16 did run, and stays close
