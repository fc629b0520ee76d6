"""Training-free mode: fixed features, labels propagated through each method's memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.training_free.features import ColourPosition, guided_unpool, lab_of, pool, rgb_to_lab, unpool
from methods.training_free.pretrained import LearnedFeatures
from vosbench import registry
from vosbench.data import open_dataset
from vosbench.engine import labels_of, segment


def test_lab_conversion_of_reference_colours():
    rgb = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 1.0]]).view(3, 1, 3)  # white, red, blue
    lab = rgb_to_lab(rgb)[:, 0].T
    torch.testing.assert_close(lab[0], torch.tensor([100.0, 0.0, 0.0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(lab[1], torch.tensor([53.24, 80.09, 67.20]), atol=0.02, rtol=0)  # red
    torch.testing.assert_close(lab[2], torch.tensor([32.30, 79.19, -107.86]), atol=0.02, rtol=0)  # blue


def test_features_are_unit_vectors_times_gain_on_a_ceil_grid():
    image = torch.rand(3, 37, 53, generator=torch.Generator().manual_seed(0))
    keys = ColourPosition(stride=8, gain=4.0)(image)
    assert keys.shape == (6, 5, 7)
    torch.testing.assert_close(keys.norm(dim=0), torch.full((5, 7), 4.0))
    # pooling and unpooling round-trip a constant map exactly, whatever the size
    ones = torch.ones(2, 37, 53)
    torch.testing.assert_close(unpool(pool(ones, 8), (37, 53), 8), ones)


def test_guided_upsampling_puts_a_coarse_boundary_on_the_colour_edge():
    # a red object on a blue background whose edge falls inside a grid cell
    height, width, stride = 32, 32, 8
    image = torch.zeros(3, height, width)
    image[2] = 1.0
    image[:, :, :13] = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    truth = torch.zeros(height, width)
    truth[:, :13] = 1.0
    grid = pool(truth[None], stride)  # cell 1 is 5/8 object: bilinear smears it over 8 px
    lab = lab_of(image)
    guided = guided_unpool(grid, lab, (height, width), stride, sigma=0.05)[0]
    bilinear = unpool(grid, (height, width), stride)[0]
    assert ((guided > 0.5) == (truth > 0.5)).all()
    assert ((bilinear > 0.5) != (truth > 0.5)).any()
    assert (guided - truth).abs().mean() < 0.5 * (bilinear - truth).abs().mean()
    # a constant map stays constant, whatever the colours and a ragged frame size
    ones = torch.ones(2, 5, 7)
    torch.testing.assert_close(guided_unpool(ones, lab_of(torch.rand(3, 37, 53)), (37, 53), 8, 0.05), torch.ones(2, 37, 53))


def test_learned_features_are_unit_vectors_times_gain_on_the_same_ceil_grid():
    image = torch.rand(3, 37, 53, generator=torch.Generator().manual_seed(0))
    colour = ColourPosition(stride=8, gain=4.0, rff=16)
    for scales, colour_weight, channels in (("8+16", 0.0, 152), ("8", 0.0, 40), ("16", 0.5, 112 + 16)):
        features = LearnedFeatures(stride=8, scales=scales, colour=colour_weight, gain=4.0, colour_features=colour)
        keys = features(image)
        assert features.channels == channels and keys.shape == (channels, 5, 7) == (channels, *colour(image).shape[1:])
        torch.testing.assert_close(keys.norm(dim=0), torch.full((5, 7), 4.0))
    # the colour part enters with its weight: alone it is a unit vector per cell
    learned = LearnedFeatures(stride=8, scales="16", gain=1.0)(image)
    mixed = LearnedFeatures(stride=8, scales="16", colour=0.5, gain=1.0, colour_features=colour)(image)
    torch.testing.assert_close(mixed[:112], learned / 1.25**0.5)
    torch.testing.assert_close(mixed[112:].norm(dim=0), torch.full((5, 7), 0.5 / 1.25**0.5))
    with pytest.raises(ValueError, match="scales"):
        LearnedFeatures(scales="32")


# every memory policy with both kinds of features: STCN's periodic bank (also capped),
# SwiftNet's pixel-adaptive memory (both triggers), SWEM's EM bases
@pytest.mark.parametrize("features", ["pretrained", "colour"])
@pytest.mark.parametrize(
    ("name", "settings"),
    [("stcn", {}), ("stcn", {"max_frames": 2}), ("swiftnet", {}), ("swiftnet", {"trigger": "variation"}), ("swem", {})],
)
def test_each_method_tracks_synthetic_objects_without_weights(tmp_path, name, settings, features):
    data = open_dataset("synthetic", tmp_path / "data", layout="youtube", videos=1, frames=26, objects=2, size="96x128")
    video = data.video("synth-000")
    spec = registry.get(name)
    method = spec.factory(spec.resolve({"tf_stride": 4, "features": features, **settings}))
    ious = []
    for index, prob in segment(method, video):
        assert prob.shape == (len(video.info.objects) + 1, 96, 128)
        torch.testing.assert_close(prob.sum(0), torch.ones(96, 128), atol=1e-4, rtol=0)
        for object_id, first in video.info.first_frame.items():
            k = video.info.objects.index_of(object_id)
            if index < first:
                assert prob[k].max() == 0  # not given yet
        if index in video.gt_frames and index > 0:
            gt = video.info.objects.to_contiguous(video.gt_mask(index))
            pred = labels_of(prob).numpy()
            for k in range(1, len(video.info.objects) + 1):
                union = ((gt == k) | (pred == k)).sum()
                if union:
                    ious.append(((gt == k) & (pred == k)).sum() / union)
        report = method.memory()
        assert len(report.per_object) == len(video.info.objects) and report.nbytes > 0
    # far better than chance: the objects are followed through motion and occlusion
    assert np.mean(ious) > 0.5, ious
