import math

import pytest

from sigctl.core.scales import check_request_size, fit_to_max_size, plan_pyramid, request_sizes
from sigctl.errors import ImageInputError, RequestError


@pytest.mark.parametrize(
    "height, width, expected_scales",
    [(250, 250, 9), (186, 248, 8), (250, 141, 7), (64, 48, 3), (120, 80, 5)],
)
def test_pyramid_follows_the_paper(height, width, expected_scales):
    layout = plan_pyramid(height, width, min_size=25, target_factor=4 / 3)
    assert layout.num_scales == expected_scales
    assert layout.finest_size == (height, width)
    assert min(layout.sizes[0]) == 25
    # The chosen factor is the closest to 4/3 among whole numbers of steps.
    steps = layout.num_scales - 1
    shorter = min(height, width)
    for other in (steps - 1, steps + 1):
        if other >= 1:
            assert abs(math.log(layout.scale_factor / (4 / 3))) <= abs(math.log((shorter / 25) ** (1 / other) / (4 / 3))) + 1e-12
    # Sizes grow monotonically and keep the aspect ratio within rounding.
    for (h0, w0), (h1, w1) in zip(layout.sizes, layout.sizes[1:]):
        assert h1 > h0 and w1 >= w0
        assert abs(h1 / h0 - layout.scale_factor) < 0.1


def test_fit_to_max_size_only_shrinks():
    assert fit_to_max_size(500, 1000, 250) == (125, 250)
    assert fit_to_max_size(100, 80, 250) == (100, 80)


def test_image_smaller_than_coarsest_scale_is_rejected_with_advice():
    with pytest.raises(ImageInputError, match="at least 25 px"):
        plan_pyramid(20, 300, min_size=25, target_factor=4 / 3)


def test_request_sizes_reproduce_training_sizes_and_scale_others():
    layout = plan_pyramid(186, 248, 25, 4 / 3)
    assert request_sizes(layout, 186, 248) == list(layout.sizes)
    wide = request_sizes(layout, 100, 400)
    assert wide[-1] == (100, 400)
    assert all(h <= 100 and w <= 400 for h, w in wide)


@pytest.mark.parametrize("height, width", [(4, 100), (100, 0), (100_000, 100_000)])
def test_absurd_request_sizes_are_rejected(height, width):
    with pytest.raises(RequestError):
        check_request_size(height, width, min_side=16, max_pixels=2048 * 2048)
