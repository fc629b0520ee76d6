"""Method.key_features: the key a method stores or matches for a frame, on its key grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conformance import write_checkpoint
from methods.memory.base import MemoryPolicy, Readout
from vosbench import registry
from vosbench.data.video import VideoInfo
from vosbench.errors import VosbenchError
from vosbench.masks import ObjectIds

HEIGHT, WIDTH = 72, 104


class Recording(MemoryPolicy):
    """A real memory policy, with the keys written to it and read from it kept aside."""

    def __init__(self, inner: MemoryPolicy):
        self.inner = inner
        self.written: dict[int, torch.Tensor] = {}
        self.queries: list[torch.Tensor] = []

    def reset(self, num_objects):
        self.inner.reset(num_objects)

    def observe(self, index, image, masks):
        self.inner.observe(index, image, masks)

    def wants(self, index, is_last):
        return self.inner.wants(index, is_last)

    def write(self, index, keys, values, masks, hard_masks=None):
        self.written[index] = keys.clone()
        self.inner.write(index, keys, values, masks, hard_masks)

    def read(self, query) -> Readout:
        self.queries.append(query.clone())
        return self.inner.read(query)

    def stored_features(self):
        return self.inner.stored_features()

    def finish(self):
        self.inner.finish()

    def nbytes(self):
        return self.inner.nbytes()

    def add_objects(self, num_new):
        self.inner.add_objects(num_new)


def frames(count: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    return [np.roll(base, 3 * t, axis=1) for t in range(count)]


def drive(method, policy_attribute: str) -> tuple[Recording, list[np.ndarray]]:
    """Run three frames (one object given at frame 0) through ``method`` with its memory recorded."""
    recording = Recording(getattr(method, policy_attribute))
    setattr(method, policy_attribute, recording)
    shots = frames()
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[20:50, 30:70] = 1
    method.start(VideoInfo("clip", len(shots), HEIGHT, WIDTH, ObjectIds((1,)), {1: 0}))
    for index, frame in enumerate(shots):
        method.step(frame, mask if index == 0 else None, is_last=index == len(shots) - 1)
    return recording, shots


# learned: 40 + 112 channels, beside the 128 colour/position ones at the default tf_colour
@pytest.mark.parametrize(("features", "channels"), [("pretrained", 280), ("colour", 128)])
@pytest.mark.parametrize(("name", "attribute", "stride"), [("stcn", "memory_policy", 16), ("swem", "memory_policy", 8)])
def test_training_free_keys_are_the_stored_keys(name, attribute, stride, features, channels):
    spec = registry.get(name)
    method = spec.factory(spec.resolve({"features": features}))
    recording, shots = drive(method, attribute)
    assert recording.written, "the method wrote nothing"
    for index, keys in recording.written.items():
        found = method.key_features(shots[index])
        assert found.dtype == torch.float32 and found.device.type == "cpu"
        assert found.shape == (channels, -(-HEIGHT // stride), -(-WIDTH // stride))
        assert torch.equal(found.flatten(1), keys[0])


def test_the_grid_follows_tf_stride():
    spec = registry.get("swiftnet")
    method = spec.factory(spec.resolve({"tf_stride": 4, "tf_rff": 0, "features": "colour"}))
    assert method.key_features(frames(1)[0]).shape == (6, HEIGHT // 4, WIDTH // 4)


@pytest.mark.parametrize(("name", "attribute", "channels"), [("stcn", "bank", 64), ("swem", "bank", 128)])
def test_trained_keys_are_the_stored_keys(tmp_path, name, attribute, channels):
    checkpoint = write_checkpoint(name, tmp_path / f"{name}.pth")
    spec = registry.get(name)
    settings = {"input_size": "64x96"} if name == "swem" else {}
    method = spec.factory(spec.resolve(settings), checkpoint=str(checkpoint))
    recording, shots = drive(method, attribute)
    for index, keys in recording.written.items():
        features = method.key_features(shots[index])
        grid = (4, 6) if name == "swem" else (-(-HEIGHT // 16), -(-WIDTH // 16))  # swem: 64x96 input; stcn: padded
        assert features.shape == (channels, *grid)
        assert torch.equal(features.flatten(1), keys[0])


def test_swiftnet_keys_are_its_query_keys(tmp_path):
    checkpoint = write_checkpoint("swiftnet", tmp_path / "swiftnet.pth")
    spec = registry.get("swiftnet")
    method = spec.factory(spec.resolve({}), checkpoint=str(checkpoint))
    recording, shots = drive(method, "memory_policy")
    assert len(recording.queries) == len(shots) - 1  # every frame after the first reads
    for index, query in enumerate(recording.queries, start=1):
        features = method.key_features(shots[index])
        assert features.shape == (32, -(-HEIGHT // 16), -(-WIDTH // 16))
        assert torch.equal(features.flatten(1), query)


def test_a_frame_that_is_not_rgb_uint8_is_refused():
    spec = registry.get("stcn")
    method = spec.factory(spec.resolve({}))
    with pytest.raises(VosbenchError, match="RGB uint8"):
        method.key_features(np.zeros((HEIGHT, WIDTH), np.uint8))
