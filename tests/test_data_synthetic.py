"""The synthetic generator's output read back through the dataset readers."""

import numpy as np

from vosbench.data import open_dataset


def test_synthetic_davis_layout_reads_as_davis2017(tmp_path):
    ds = open_dataset("synthetic", tmp_path / "s", layout="davis", videos=2, frames=6, objects=3, size="48x80")
    assert ds.sequences == ["synth-000", "synth-001"]
    for video in ds:
        assert video.info.size == (48, 80)
        assert video.info.objects.ids == (1, 2, 3)
        assert set(video.info.first_frame.values()) == {0}
        assert video.gt_frames == list(range(6))
        assert np.array_equal(video.given_mask(0), video.gt_mask(0))
        assert video.frame(5).shape == (48, 80, 3)


def test_synthetic_youtube_layout_has_late_objects_and_sparse_gt(tmp_path):
    ds = open_dataset("synthetic", tmp_path / "y", layout="youtube", videos=2, frames=21, objects=3, size="48x80")
    for video in ds:
        info = video.info
        assert video.frame_names == ["00000", "00005", "00010", "00015", "00020"]
        assert info.objects.ids != (1, 2, 3)  # not consecutive 1..K
        assert max(info.first_frame.values()) > 0  # someone enters late
        for object_id, first in info.first_frame.items():
            given = video.given_mask(first)
            assert (given == object_id).any()
            for t in video.gt_frames:
                if t < first:
                    assert not (video.gt_mask(t) == object_id).any()
    everything = open_dataset("synthetic", tmp_path / "y", layout="youtube", videos=2, frames=21, objects=3, size="48x80", all_frames=True)
    video = everything.video("synth-000")
    assert len(video) == 21 and video.output_frames == [0, 5, 10, 15, 20]
