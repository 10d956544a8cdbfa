"""Sampling from a tiny trained pyramid: reproducible, batch-independent, any size, any start scale."""

import numpy as np
import pytest
import torch

from sigctl import artifact
from sigctl.core.requests import RequestLimits
from sigctl.core.in_process import sample_images
from sigctl.errors import RequestError

from ..handmade import formula_pyramid


@pytest.fixture(scope="module")
def pyramid(tiny_run):
    return artifact.load(tiny_run).model


def test_same_seed_same_pixels_other_seed_other_pixels(pyramid):
    first = sample_images(pyramid, 2, seed=10)
    assert np.array_equal(first, sample_images(pyramid, 2, seed=10))
    assert not np.array_equal(first, sample_images(pyramid, 2, seed=12))


def at_most_one_level_apart(a: np.ndarray, b: np.ndarray) -> bool:
    """PyTorch's float32 CPU convolutions round differently for different batch sizes (~1e-6), so a
    value on a uint8 rounding boundary can move by one level; that is the true bound in process."""
    difference = np.abs(a.astype(int) - b.astype(int))
    return difference.max() <= 1 and (difference > 0).mean() < 1e-3


def test_a_sample_does_not_depend_on_its_batch(pyramid):
    batch = sample_images(pyramid, 10, seed=100)  # 10 > the internal batch of 8: crosses a boundary
    assert at_most_one_level_apart(batch[3], sample_images(pyramid, 1, seed=103)[0])
    assert at_most_one_level_apart(batch[9], sample_images(pyramid, 1, seed=109)[0])
    assert at_most_one_level_apart(batch[2:5], sample_images(pyramid, 3, seed=102))


def test_in_float64_a_sample_is_its_batchs_to_within_rounding():
    # The noise and every step but the convolutions' summation order are batch-independent by construction.
    from sigctl.core.operations import Request, sample_float
    from sigctl.core.in_process import TorchExecutor

    executor = TorchExecutor(formula_pyramid(torch.float64))
    batch = sample_float(executor, Request("sample", seed=100, num_samples=10))
    alone = sample_float(executor, Request("sample", seed=109, num_samples=1))
    assert np.abs(batch[9] - alone[0]).max() < 1e-12


@pytest.mark.parametrize("start_scale", [0, 1])
@pytest.mark.parametrize("height, width", [(32, 43), (37, 91), (64, 20)])
def test_any_size_from_any_start_scale(pyramid, height, width, start_scale):
    images = sample_images(pyramid, 2, seed=1, height=height, width=width, start_scale=start_scale)
    assert images.shape == (2, height, width, 3) and images.dtype == np.uint8
    assert not np.array_equal(images[0], images[1])


def test_later_start_scale_keeps_more_of_the_reconstruction():
    pyramid = formula_pyramid(torch.float32)  # fixed weights: the relation cannot depend on training luck
    from_coarsest = sample_images(pyramid, 4, seed=0, start_scale=0).astype(float)
    from_finest = sample_images(pyramid, 4, seed=0, start_scale=pyramid.num_trained - 1).astype(float)
    assert from_finest.std(axis=0).mean() < from_coarsest.std(axis=0).mean()


def test_bad_requests_name_the_limit(pyramid):
    with pytest.raises(RequestError, match="start scale 9 is out of range"):
        sample_images(pyramid, 1, seed=0, start_scale=9)
    with pytest.raises(RequestError, match="exceeds the limit"):
        sample_images(pyramid, 1, seed=0, height=5000, width=5000)
    with pytest.raises(RequestError, match="between 1 and 3"):
        sample_images(pyramid, 4, seed=0, limits=RequestLimits(max_samples=3))
    with pytest.raises(RequestError, match="seed"):
        sample_images(pyramid, 1, seed=-1)
