"""The benchmark scripts beside bench/run.py: official.py's stand-ins and its timing of
the official checkouts (given as VOSBENCH_OFFICIAL=FOLDER holding stcn/, swiftnet/,
swem/, xmem/, cutie/ and sam2/ checkouts: the official code cannot be downloaded here, so without it those tests
skip), memory_read.py and long_video.py."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conformance import spec

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL = os.environ.get("VOSBENCH_OFFICIAL")


def load(name: str):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        module_spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module  # dataclasses look their module up there
        module_spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "bench"))


@pytest.fixture(scope="module")
def official():
    return load("official")


def test_torchvision_stand_in_has_the_names_official_stcn_loads(official):
    """The official key encoder is torchvision's ResNet-50 with layer1 kept as res2: every
    trunk entry of an official checkpoint must exist, with its shape, in the stand-in."""
    trunk = official.torchvision_stand_in().models.resnet50(pretrained=True).state_dict()
    renamed = {"res2": "layer1"}
    checked = 0
    for name, shape in spec("stcn")["state_dict"]:
        if not name.startswith("key_encoder.") or name.startswith(("key_encoder.key_proj",)):
            continue
        inner = name.removeprefix("key_encoder.")
        head, _, rest = inner.partition(".")
        inner = f"{renamed.get(head, head)}.{rest}" if rest else inner
        assert inner in trunk and list(trunk[inner].shape) == list(shape), name
        checked += 1
    assert checked == len(trunk)  # and nothing in the stand-in that the checkpoint lacks


def test_on_cpu_keeps_cuda_requests_on_the_cpu_and_restores_torch(official):
    zeros, cuda = torch.zeros, torch.Tensor.cuda
    with official.on_cpu():
        assert torch.zeros(2, device="cuda").device.type == "cpu"
        assert torch.ones(1).cuda().device.type == "cpu"
        assert torch.hub.load_state_dict_from_url("https://example.invalid/w.pth") == {}
    assert torch.zeros is zeros and torch.Tensor.cuda is cuda


def test_bare_packages_load_a_checkout_beside_our_methods_package(official, tmp_path):
    import methods.base as ours

    package = tmp_path / "methods" / "inner"
    package.mkdir(parents=True)
    (tmp_path / "methods" / "__init__.py").write_text("raise ImportError('a package init that must not run')\n")
    (package / "__init__.py").write_text("raise ImportError('nor this one')\n")
    (package / "net.py").write_text("from .parts import VALUE\n")
    (package / "parts.py").write_text("VALUE = 41 + 1\n")
    with official.bare_packages(tmp_path, ["methods", "methods.inner"]):
        from methods.inner import net

        assert net.VALUE == 42
    import methods.base

    assert methods.base is ours and "methods.inner" not in sys.modules


@pytest.mark.skipif(not OFFICIAL, reason="no official checkouts: set VOSBENCH_OFFICIAL=FOLDER with stcn/, swiftnet/, swem/, xmem/, cutie/, sam2/")
@pytest.mark.parametrize("name", ["stcn", "swiftnet", "swem", "xmem", "cutie", "sam2"])
def test_official_code_computes_what_ours_does(official, name):
    """Three small frames through the official code and ours: same masks, close probabilities."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (96, 160, 3), dtype=np.uint8) for _ in range(3)]
    frames = [np.roll(frames[0], 4 * t, axis=1) for t in range(3)]  # a moving scene
    mask = np.zeros((96, 160), np.uint8)
    mask[24:72, 40:110] = 1
    torch.set_num_threads(1)
    row = official.compare(name, Path(OFFICIAL) / name, frames, mask)
    assert row["official_s"] > 0 and row["ours_s"] > 0
    assert row["mask_agreement"] > 0.99, row


@pytest.mark.skipif(not OFFICIAL, reason="no official checkouts: set VOSBENCH_OFFICIAL=FOLDER with sam2/")
def test_official_sam2_with_two_objects_and_its_flops(official):
    """Two objects through the official predictor (one add_new_mask each) and ours: same
    masks; then each frame's FLOPs, counted for both, the official's the larger after frame 0."""
    rng = np.random.default_rng(0)
    frames = [np.roll(rng.integers(0, 256, (96, 160, 3), dtype=np.uint8), 4 * t, axis=1) for t in range(3)]
    mask = np.zeros((96, 160), np.uint8)
    mask[24:72, 40:75], mask[24:72, 75:110] = 1, 2
    torch.set_num_threads(1)
    row = official.compare("sam2", Path(OFFICIAL) / "sam2", frames, mask)
    assert row["mask_agreement"] > 0.99, row
    ours_, theirs = official.lockstep_flops("sam2", Path(OFFICIAL) / "sam2", frames, mask)[::-1]
    assert len(ours_) == len(theirs) == 3 and min(ours_) > 1e11
    assert all(a > b for a, b in zip(theirs[1:], ours_[1:]))


def test_memory_read_bench_reads_a_bank():
    memory_read = load("memory_read")
    table = memory_read.measure([2], repeats=1)
    assert table.positions.tolist() == [2 * 30 * 54] and table.ours_s.iloc[0] > 0


def test_long_video_bench_names_the_labels_it_knows(tmp_path):
    import subprocess

    result = subprocess.run([sys.executable, str(ROOT / "bench" / "long_video.py"), "--methods", "sam2@window,sam2",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "--methods: unknown labels ['sam2']; known: swem, stcn@cap20" in result.stderr


def test_long_video_bench_tells_a_capped_bank_from_a_growing_one(tmp_path):
    """A short generated video through bench/long_video.py: STCN's capped bank, SWEM's
    bases and XMem's capped long-term memory stop growing, the uncapped bank does not."""
    import subprocess

    out = tmp_path / "long"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "long_video.py"), "--frames", "220", "--size", "48x80", "--cap", "3",
         "--long-term-elements", "200", "--growing-frames", "220", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    import pandas as pd

    table = pd.read_csv(out / "long_video.csv").set_index("label")
    assert table.loc["stcn@cap3", "stored_end"] == table.loc["stcn@cap3", "stored_settled"]
    assert table.loc["stcn@cap3", "settled_frame"] == 100 and table.loc["swem", "settled_frame"] == 100
    assert table.loc["swem", "stored_end"] == table.loc["swem", "stored_settled"]
    assert table.loc["stcn@uncapped", "settled_frame"] > 146 and table.loc["stcn@uncapped", "verdict"] == "grows"
    assert table.loc["swem", "memory_mib_end"] > 0
    # XMem, 3x5 grid, 2 objects: long-term memory is cut back to 72 entries and given 75
    # every 25 frames; the most a window holds after a step is 147 of them and 9 working
    # frames (the 10th is consolidated as it is written)
    assert table.loc["xmem", "stored_end"] == table.loc["xmem", "stored_settled"] == 2 * (147 + 9 * 15)
    assert table.loc["xmem", "verdict"] == "flat"
    # SAM 2's recent window: bounded storage keeps the conditioning frame and the 6 recent
    # ones (5x8 grid at its 10-pixel stride, 2 objects), the official keep-everything
    # storage grows to the end
    assert table.loc["sam2@window", "verdict"] == "flat"
    assert table.loc["sam2@window", "stored_end"] == table.loc["sam2@window", "stored_settled"] == 2 * 7 * 5 * 8
    assert table.loc["sam2@all", "settled_frame"] > 146 and table.loc["sam2@all", "verdict"] == "grows"
    # ... by the same bytes every frame (the video's last frame is not written), over the whole video
    window, everything = table.loc["sam2@window"], table.loc["sam2@all"]
    assert window.mib_at_146 == window.mib_at_220 == window.memory_mib_end
    assert everything.mib_at_220 - everything.mib_at_146 == pytest.approx(everything.mib_at_146 - everything.mib_at_73, rel=1e-9)
    assert everything.mib_at_220 > 30 * window.mib_at_220  # 219 frames kept against 7
    assert (out / "report" / "report.html").is_file()


@pytest.mark.parametrize("writer", ["none", "sub", "up", "average", "paeth", "adaptive", "opencv", "pillow"])
def test_eval_speed_rewrites_predictions_as_each_writer_writes_them(tmp_path, writer):
    """The same masks in the same layout, with the row filters the writer is named for."""
    from vosbench import png
    from vosbench.masks import read_mask, write_mask

    eval_speed = load("eval_speed")
    rng = np.random.default_rng(0)
    for name in ("a/00000.png", "a/00001.png", "b/00000.png"):
        mask = np.zeros((40, 60), np.uint8)
        mask[rng.integers(0, 20) :, rng.integers(0, 30) : 50] = rng.integers(1, 4)
        write_mask(tmp_path / "pred" / name, mask)
    eval_speed.rewrite(tmp_path / "pred", tmp_path / writer, writer)
    sources = sorted((tmp_path / "pred").rglob("*.png"))
    assert [p.relative_to(tmp_path / writer) for p in sorted((tmp_path / writer).rglob("*.png"))] == [
        p.relative_to(tmp_path / "pred") for p in sources]
    for path in sources:
        rewritten = tmp_path / writer / path.relative_to(tmp_path / "pred")
        np.testing.assert_array_equal(read_mask(rewritten), read_mask(path))
        height, width, _, stream = png._parse(rewritten.read_bytes())
        kinds = set(png._inflate(stream, height, width)[0].tolist())
        expected = {"none": {0}, "sub": {1}, "up": {2}, "average": {3}, "paeth": {4}, "pillow": {0}}.get(writer)
        assert kinds == expected if expected else len(kinds) > 1, kinds
