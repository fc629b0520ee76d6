"""SWEM's network pieces against the official frame-0 features, and its loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conformance import load_case, synthetic_state_dict, write_checkpoint
from methods.frames import resize
from methods.swem.network import EVAL_SIZE, TOP_L, load_swem, swem_input
from vosbench.errors import VosbenchError

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    return load_swem(write_checkpoint("swem", tmp_path_factory.mktemp("swem") / "swem.pth"))


def frame0_features(network, data: dict, size):
    """Frame 0's raw key projection [128, h16, w16] and per-object value norms [K, h16, w16]."""
    with torch.inference_mode():
        image = swem_input(data["frames"][0], size)
        features = network.encode_key(image)
        labels = torch.from_numpy(data["mask0"].astype(np.int64))
        objects = torch.stack([(labels == k).float() for k in range(1, int(labels.max()) + 1)])
        probs = torch.cat([1 - objects.sum(0, keepdim=True), objects])
        values = network.encode_value(image, features.f16, resize(probs[None], image.shape[-2:], "nearest")[0])
    return features.key[0].numpy(), values.norm(dim=1).numpy()


@pytest.mark.conformance
@pytest.mark.parametrize("expected, size", [("expected.npz", EVAL_SIZE), ("expected_native.npz", None)])
@pytest.mark.parametrize("case", ["blackswan-1obj", "car-shadow-2obj"])
def test_frame0_key_and_value_match_official(network, case, expected, size):
    data = load_case("swem", case, expected)
    key, value_norm = frame0_features(network, data, size)
    assert key.shape == data["qk16_frame0"].shape and value_norm.shape == data["mv16_norm_frame0"].shape
    np.testing.assert_allclose(key, data["qk16_frame0"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(value_norm, data["mv16_norm_frame0"], rtol=1e-5, atol=1e-5)


def test_decoder_entry_at_an_odd_size(network):
    frame = np.random.default_rng(0).integers(0, 256, (75, 101, 3), dtype=np.uint8)
    with torch.inference_mode():
        features = network.encode_key(swem_input(frame, None))
        grid = features.key.shape[-2:]
        assert tuple(grid) == (5, 7)
        readout = torch.randn(2, 512, *grid)
        perm_inv = torch.rand(2, 2 * TOP_L, *grid)
        p = network.segment(readout, features, perm_inv, (75, 101))
    assert p.shape == (2, 75, 101) and torch.all((p > 0) & (p < 1))
    assert not torch.equal(p[0], p[1])


def test_single_object_checkpoint_gets_an_inert_others_channel(tmp_path):
    state = synthetic_state_dict("swem")
    state["value_encoder.conv1.weight"] = state["value_encoder.conv1.weight"][:, :4].clone()
    path = tmp_path / "single.pth"
    torch.save(state, path)
    del state
    network = load_swem(path)
    assert torch.all(network.value_encoder.conv1.weight[:, 4] == 0)
    # one object: "others" = 1 - m - m_0 is zero, so the frame-0 values are unchanged
    data = load_case("swem", "blackswan-1obj", "expected_native.npz")
    _, value_norm = frame0_features(network, data, None)
    np.testing.assert_allclose(value_norm, data["mv16_norm_frame0"], rtol=1e-5, atol=1e-5)


def test_stcn_shaped_weights_are_rejected(tmp_path):
    path = tmp_path / "stcn-like.pth"
    torch.save({"key_proj.key_proj.weight": torch.zeros(64, 1024, 3, 3)}, path)
    with pytest.raises(VosbenchError, match=r"SWEM network; missing: key_encoder.mean.*wrong shape .*\(64, 1024, 3, 3\) vs \(128, 1024, 3, 3\)"):
        load_swem(path)
