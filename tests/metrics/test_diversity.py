"""Pixel diversity (SinGAN's) on cases small enough to compute by hand."""

import numpy as np
import pytest

from sigctl.metrics.diversity import pixel_diversity


def grey_image(values) -> np.ndarray:
    """A 2x2 RGB image whose three channels all hold ``values`` (so grey = value / 255)."""
    return np.repeat(np.asarray(values, np.uint8).reshape(2, 2, 1), 3, axis=2)


REAL = grey_image([0, 255, 0, 255])  # grey 0, 1, 0, 1: std 0.5


def test_one_pixel_that_differs_between_two_samples_by_hand():
    # Pixel (0, 0) is 0 in one sample and 1 in the other: std 0.5 (ddof 0); the other three: 0.
    # Mean over the 4 pixels 0.125, over the real image's spread 0.5: 0.25.
    samples = [grey_image([0, 0, 0, 0]), grey_image([255, 0, 0, 0])]
    assert pixel_diversity(REAL, samples) == pytest.approx(0.25)


def test_grey_is_the_plain_mean_of_the_channels():
    # (255, 0, 0) is grey 1/3: std over the two samples 1/6, mean over pixels 1/24, / 0.5 = 1/12.
    red = grey_image([0, 0, 0, 0])
    red[0, 0] = (255, 0, 0)
    assert pixel_diversity(REAL, [grey_image([0, 0, 0, 0]), red]) == pytest.approx(1 / 12)


def test_identical_samples_have_no_diversity_and_the_count_of_samples_matters_only_through_the_spread():
    assert pixel_diversity(REAL, [REAL, REAL, REAL]) == 0.0
    # Four samples 0, 0, 1, 1 at every pixel: std 0.5 everywhere, / 0.5 = 1.
    black, white = grey_image([0] * 4), grey_image([255] * 4)
    assert pixel_diversity(REAL, [black, black, white, white]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "real, samples, message",
    [
        (REAL, [REAL], "at least 2 samples"),
        (REAL, [REAL, np.zeros((3, 2, 3), np.uint8)], "need one size"),
        (grey_image([7, 7, 7, 7]), [REAL, REAL], "one flat colour"),
    ],
)
def test_what_it_cannot_measure_is_refused(real, samples, message):
    with pytest.raises(ValueError, match=message):
        pixel_diversity(real, samples)
