"""J, seg2bmap, boundary F and the statistics on small masks with known answers, and the
packed-word computation held to the plain definitions."""

from __future__ import annotations

import numpy as np
import pytest

from vosbench.eval.boundary import disk, f_from_counts, seg2bmap, tolerance_radius
from vosbench.eval.frame import Target, _nonzero_bbox, score_frame, score_masks
from vosbench.eval.jaccard import jaccard
from vosbench.eval.statistics import decay, decay_bins, recall, summarize


def square(shape=(10, 10), rows=(2, 5), cols=(2, 5)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1] = True
    return mask


def pixels(*coordinates: tuple[int, int], shape=(10, 10)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for y, x in coordinates:
        mask[y, x] = True
    return mask


# --- seg2bmap ----------------------------------------------------------------------


def test_seg2bmap_single_pixel_marks_the_pixel_and_its_north_west_neighbours():
    got = seg2bmap(pixels((1, 1), shape=(3, 3)))
    assert np.array_equal(got, pixels((0, 0), (0, 1), (1, 0), (1, 1), shape=(3, 3)))


def test_seg2bmap_square_sits_half_a_pixel_towards_the_origin():
    b = seg2bmap(square())
    expected = np.zeros((10, 10), dtype=bool)
    expected[[1, 5], 1:6] = True  # the row above the square and its last row
    expected[2:5, [1, 5]] = True  # the column left of it and its last column
    assert np.array_equal(b, expected)
    assert b.sum() == 16


def test_seg2bmap_bottom_and_right_image_edges_are_not_boundaries():
    assert not seg2bmap(np.ones((4, 5), dtype=bool)).any()
    last_row = np.zeros((3, 3), dtype=bool)
    last_row[-1] = True
    expected = np.zeros((3, 3), dtype=bool)
    expected[1] = True  # only the change between rows 1 and 2
    assert np.array_equal(seg2bmap(last_row), expected)
    # a mask touching the top and left edges keeps its own first row and column
    assert seg2bmap(square(rows=(0, 3), cols=(0, 3)))[0, :5].tolist() == [False, False, False, True, False]


def test_seg2bmap_empty():
    assert not seg2bmap(np.zeros((5, 6), dtype=bool)).any()


# --- disk and tolerance ------------------------------------------------------------


def test_disk_is_x2_plus_y2_at_most_r2():
    d = disk(8)
    assert d.shape == (17, 17) and d.sum() == 197  # Gauss circle count N(8)
    assert d[8, 0] and d[0, 8] and not d[0, 0] and not d[1, 3]  # 7^2 + 5^2 = 74 > 64
    assert disk(1).sum() == 5 and disk(0).sum() == 1


def test_tolerance_radius_is_ceil_of_the_diagonal_fraction():
    assert tolerance_radius((480, 854)) == 8  # 7.84 px
    assert tolerance_radius((1080, 1920)) == 18  # 17.6 px
    assert tolerance_radius((480, 854), bound_th=3) == 3
    with pytest.raises(ValueError):
        tolerance_radius((480, 854), bound_th=2.5)


# --- J and F on hand-made masks ----------------------------------------------------


def test_jaccard_known_values_and_empty_masks():
    shifted = square(cols=(3, 6))
    assert jaccard(square(), shifted) == 12 / 20
    assert jaccard(square(), square()) == 1.0
    empty = np.zeros((10, 10), dtype=bool)
    assert jaccard(empty, empty) == 1.0
    assert jaccard(square(), empty) == 0.0 and jaccard(empty, square()) == 0.0


def test_f_of_a_one_pixel_shift():
    gt, pred = square(), square(cols=(3, 6))
    # radius 0: 8 of the 16 boundary pixels of each coincide (the horizontal runs)
    frame = score_frame(gt.view(np.uint8), pred.view(np.uint8), [Target(1, 1)], radius=0)
    assert frame.scores[0].f == 0.5
    assert frame.scores[0].j == 0.6
    # within one pixel every boundary pixel has a partner
    assert score_frame(gt.view(np.uint8), pred.view(np.uint8), [Target(1, 1)], radius=1).scores[0].f == 1.0


def test_f_empty_and_disjoint_cases():
    empty = np.zeros((40, 40), dtype=bool)
    a, far = square((40, 40), (2, 5), (2, 5)), square((40, 40), (30, 35), (30, 35))
    assert score_masks(empty, empty).f == 1.0  # no boundary in either: P = R = 1
    assert score_masks(a, empty).f == 0.0  # prediction has no boundary: P = 1, R = 0
    assert score_masks(empty, a).f == 0.0  # ground truth has none: P = 0, R = 1
    assert score_masks(a, far).f == 0.0  # both boundaries, none within 1 px (40x40: r = 1)
    assert score_masks(a, a).f == 1.0


def test_f_from_counts_mirrors_the_reference_cases():
    assert f_from_counts(0, 0, 0, 0) == 1.0
    assert f_from_counts(0, 5, 0, 0) == 0.0
    assert f_from_counts(5, 0, 0, 0) == 0.0
    assert f_from_counts(4, 8, 0, 0) == 0.0  # P = R = 0
    assert f_from_counts(4, 8, 2, 4) == 2 * 0.5 * 0.5 / (0.5 + 0.5)
    assert f_from_counts(3, 7, 2, 5) == 2 * (2 / 3) * (5 / 7) / (2 / 3 + 5 / 7)


# --- the packed computation equals the definitions ---------------------------------


def _dilate_by_definition(b: np.ndarray, radius: int) -> np.ndarray:
    height, width = b.shape
    padded = np.pad(b, radius)
    out = np.zeros_like(b)
    for dy, dx in zip(*np.nonzero(disk(radius))):
        out |= padded[dy : dy + height, dx : dx + width]
    return out


def _scores_by_definition(gt: np.ndarray, pred: np.ndarray, radius: int) -> tuple[float, float]:
    b_gt, b_pred = seg2bmap(gt), seg2bmap(pred)
    f = f_from_counts(
        int(b_pred.sum()),
        int(b_gt.sum()),
        int((b_pred & _dilate_by_definition(b_gt, radius)).sum()),
        int((b_gt & _dilate_by_definition(b_pred, radius)).sum()),
    )
    return jaccard(gt, pred), f


def _random_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    kind = rng.integers(4)
    if kind == 0:
        return rng.random(shape) < rng.random() * 0.4
    mask = np.zeros(shape, dtype=bool)
    if kind == 1:  # reaches the bottom-right corner, where seg2bmap's edge rules apply
        mask[rng.integers(height) :, rng.integers(width) :] = True
    elif kind == 2:
        y0, x0 = rng.integers(height), rng.integers(width)
        mask[y0 : rng.integers(y0, height + 1), x0 : rng.integers(x0, width + 1)] = True
    elif rng.random() < 0.5:
        mask[:] = True
    return mask


def test_packed_scores_equal_the_definitions_on_random_masks():
    rng = np.random.default_rng(2024)
    for _ in range(400):
        shape = (int(rng.integers(1, 70)), int(rng.integers(1, 150)))
        radius = int(rng.integers(0, 12))
        gt, pred = _random_mask(rng, shape), _random_mask(rng, shape)
        got = score_frame(gt.view(np.uint8), pred.view(np.uint8), [Target(1, 1)], radius).scores[0]
        assert (got.j, got.f) == _scores_by_definition(gt, pred, radius), (shape, radius)


def test_the_box_of_a_frame_is_that_of_its_nonzero_pixels():
    # a box too big would not change the scores above: held to the definition here, on
    # heights that are and are not whole groups of rows filling uint64 words, pixels at
    # any byte of a word, and images that are not contiguous
    rng = np.random.default_rng(11)
    for _ in range(3000):
        shape = (int(rng.integers(1, 33)), int(rng.integers(1, 40)))
        gt, pred = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
        for image in (gt, pred):
            for _ in range(rng.integers(0, 3)):
                image[rng.integers(shape[0]), rng.integers(shape[1])] = rng.integers(1, 256)
        for a, b in ((gt, pred), (gt[:, ::2], pred[:, ::2])):
            ys, xs = np.nonzero(a | b)
            expected = (ys.min(), ys.max(), xs.min(), xs.max()) if ys.size else None
            assert _nonzero_bbox(a, b) == expected, a.shape


def test_several_objects_in_one_frame_are_scored_independently():
    rng = np.random.default_rng(7)
    gt = rng.integers(0, 4, size=(60, 90)).astype(np.uint8) * 3  # ids 0, 3, 6, 9
    pred = rng.integers(0, 4, size=(60, 90)).astype(np.uint8) * 3
    gt[:20] = 0
    pred[:, :30] = 6
    targets = [Target(i, i) for i in (3, 6, 9)]
    frame = score_frame(gt, pred, targets, radius=2)
    for target, scores in zip(targets, frame.scores):
        assert (scores.j, scores.f) == _scores_by_definition(gt == target.gt_value, pred == target.pred_value, 2)
    assert frame.unclaimed == 0
    assert score_frame(gt, pred, targets[:2], radius=2).unclaimed == int((pred == 9).sum())


# --- statistics ----------------------------------------------------------------------


def _reference_bins(n: int) -> list[tuple[int, int]]:
    """davis2017-evaluation's db_statistics bins, uint8 cast included."""
    ids = (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.uint8)
    return [(int(ids[i]), int(ids[i + 1]) + 1) for i in range(4)]


def test_decay_bins_equal_the_reference_up_to_256_frames():
    for n in range(1, 257):
        assert [(b.start, b.stop) for b in decay_bins(n)] == _reference_bins(n), n


def test_decay_bins_use_true_indices_where_the_reference_wraps():
    assert _reference_bins(300)[3] == (224, 44)  # uint8 wrapped: an empty last bin
    bins = decay_bins(300)
    assert [(b.start, b.stop) for b in bins] == [(0, 76), (75, 151), (150, 225), (224, 300)]
    values = np.concatenate([np.ones(75), np.full(150, 0.5), np.zeros(75)])
    assert decay(values) == np.mean(values[0:76]) - np.mean(values[224:300])
    assert decay(values) == pytest.approx(75 / 76)


def test_decay_of_short_sequences():
    assert decay_bins(4) == [slice(0, 2), slice(1, 3), slice(2, 3), slice(2, 4)]
    assert decay(np.array([1.0, 0.8, 0.4, 0.2])) == pytest.approx(0.9 - 0.3)
    assert decay(np.array([0.7])) == 0.0


def test_recall_is_strictly_above_one_half_and_summarize():
    values = np.array([0.5, 0.6, 0.4, 1.0])
    assert recall(values) == 0.5
    mean, rec, dec = summarize(values)
    assert (mean, rec) == (np.mean(values), 0.5)
    assert dec == pytest.approx((0.5 + 0.6) / 2 - (0.4 + 1.0) / 2)
    with pytest.raises(ValueError):
        summarize(np.array([]))
