"""Patch SWD as DESIGN.md defines it, pinned on the check values the issue gives."""

import numpy as np
import pytest

from sigctl.metrics.patches import level_image, patch_matrix
from sigctl.metrics.swd import SWDReference, directions, patch_swd, projections, quantile_distance

from .images import bundled


@pytest.fixture(scope="module")
def balloons():
    return bundled("balloons")


def test_swd_against_itself_rolled_by_half_its_width_matches_the_check_values(balloons):
    shift = 4 * (balloons.shape[1] // 8)
    swd = patch_swd(balloons, np.roll(balloons, shift, axis=1))
    assert [round(level, 3) for level in swd.levels] == [0.164, 0.361, 0.990]
    assert round(swd.mean, 3) == 0.505


def test_swd_against_itself_mirrored_matches_the_check_values(balloons):
    swd = patch_swd(balloons, balloons[:, ::-1])
    assert [round(level, 3) for level in swd.levels] == [0.441, 0.677, 1.134]
    assert round(swd.mean, 3) == 0.751


def test_an_image_is_at_distance_zero_from_itself_and_far_from_another(balloons):
    assert patch_swd(balloons, balloons).levels == (0.0, 0.0, 0.0)
    assert patch_swd(balloons, bundled("stone")).mean > 5.0  # two scenes: far above the 0.5 of a rolled copy


def test_projections_follow_the_dy_dx_channel_patch_order():
    image = np.random.default_rng(3).uniform(-1, 1, (12, 15, 3)).astype(np.float32)
    unit = directions()[:5]
    explicit = np.empty((6 * 9, 147), np.float32)  # built by hand: value (dy * 7 + dx) * 3 + c is pixel (y + dy, x + dx, c)
    for y in range(6):
        for x in range(9):
            explicit[y * 9 + x] = [image[y + dy, x + dx, c] for dy in range(7) for dx in range(7) for c in range(3)]
    np.testing.assert_allclose(projections(image, unit), explicit @ unit.T, atol=1e-5)
    np.testing.assert_array_equal(patch_matrix(image), explicit)


def test_directions_are_the_seeded_normals_scaled_to_unit_length():
    raw = np.random.default_rng(0).standard_normal((256, 147))
    unit = directions()
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)


def test_levels_are_block_means_of_the_cropped_image_in_float64_then_float32():
    rgb = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    level = level_image(rgb, 2)
    assert level.shape == (2, 3, 3) and level.dtype == np.float32
    by_hand = (rgb[0:2, 2:4, 1].astype(np.float64) / 127.5 - 1).mean()
    assert level[0, 1, 1] == np.float32(by_hand)


def test_quantiles_of_sets_of_different_size_are_read_at_midpoints_by_linear_interpolation():
    # M = 3: t = 1/6, 1/2, 5/6. {0, 1} has order statistics at t = 1/4, 3/4, so it reads 0, 0.5, 1 (clamped at the ends).
    assert quantile_distance(np.array([[0.0], [1.0]]), np.array([[0.0], [0.5], [1.0]])) == 0.0
    assert quantile_distance(np.array([[0.0], [1.0]]), np.array([[0.0], [0.0], [0.0]])) == pytest.approx(0.5)
    assert quantile_distance(np.array([[0.0], [2.0]]), np.array([[1.0], [1.0]])) == pytest.approx(1.0)  # equal sizes: sorted pairs


def test_a_level_too_small_for_a_7x7_patch_is_none_and_so_is_the_mean(balloons):
    swd = patch_swd(balloons, balloons[:24, :40])  # /4 leaves 6x10: no 7x7 patch
    assert swd.levels[0] is not None and swd.levels[1] is not None and swd.levels[2] is None
    assert swd.mean is None


def test_a_reference_made_once_gives_the_same_distances_as_fresh_pairs(balloons):
    mirrored, rolled = balloons[:, ::-1], np.roll(balloons, 50, axis=1)
    kept = SWDReference(balloons)
    projected_each_time = SWDReference(balloons, keep_pixels=0)  # the path large real images take
    for sample in (mirrored, rolled):
        assert kept.distance(sample) == projected_each_time.distance(sample) == patch_swd(balloons, sample)
