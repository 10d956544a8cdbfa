"""The copy detector on constructed copies and constructed non-copies."""

import numpy as np
import pytest

from sigctl.metrics.copying import find_copies, search_factor

from .images import block_corners, bundled, shifted_blocks, uniform_noise


@pytest.fixture(scope="module")
def balloons():
    return bundled("balloons")


def test_the_training_image_itself_is_all_copy(balloons):
    finding = find_copies(balloons, balloons)
    assert finding.share == 1.0 and np.all(finding.offsets[finding.copied] == 0)


def test_a_sample_made_of_shifted_blocks_of_the_real_image_is_found_to_be_a_copy(balloons):
    sample = shifted_blocks(balloons)
    assert find_copies(balloons, sample).share > 0.9  # only the seams between blocks are not copies
    # A little noise (as a generator's rounding would add) does not hide it.
    noisy = np.clip(sample + np.random.default_rng(0).normal(0, 3, sample.shape), 0, 255).astype(np.uint8)
    assert find_copies(balloons, noisy).share > 0.8


def test_half_a_copy_is_half_copied_and_the_map_says_which_half(balloons):
    sample = shifted_blocks(balloons)
    half = sample.shape[0] // 2
    sample[half:] = uniform_noise(sample[half:].shape)
    finding = find_copies(balloons, sample)
    assert 0.4 < finding.share < 0.55
    assert not finding.copied[half:].any() and finding.copied[: half - 6].mean() > 0.85


@pytest.mark.parametrize("other", ["noise", "stone", "tree", "mirrored"])
def test_images_made_anew_are_not_copies(balloons, other):
    sample = {"noise": lambda: uniform_noise(balloons.shape), "mirrored": lambda: balloons[:, ::-1]}.get(other, lambda: bundled(other))()
    assert find_copies(balloons, sample).share < 0.02


def test_large_images_are_searched_reduced_and_still_verified_pixel_for_pixel(balloons):
    large = balloons.repeat(2, axis=0).repeat(2, axis=1)  # 372x496: searched at a 4x4 block mean
    assert search_factor(large.shape) == 4
    corners = block_corners(large, seed=17)
    assert all(top % 4 and left % 4 for top, left in corners)  # no block lines up with the search grid
    sample = shifted_blocks(large, seed=17)
    assert find_copies(large, sample).share > 0.9
    assert find_copies(large, bundled("stone").repeat(2, axis=0).repeat(2, axis=1)).share < 0.02


def test_a_flat_sample_copies_nothing(balloons):
    flat = np.full_like(balloons, 200)
    assert find_copies(balloons, flat).share == 0.0
