import math

import pytest

from sigctl.config import load_settings
from sigctl.core.scales import check_request_size, fit_exactly, fit_to_max_size, plan_closest_factor, plan_reference, request_sizes
from sigctl.errors import ImageInputError, RequestError


@pytest.mark.parametrize(
    "height, width, expected_scales",
    [(250, 250, 9), (186, 248, 8), (250, 141, 7), (64, 48, 3), (120, 80, 5)],
)
def test_the_closest_factor_plan_comes_closest_to_the_target_factor(height, width, expected_scales):
    layout = plan_closest_factor(height, width, min_size=25, target_factor=4 / 3)
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
        plan_closest_factor(20, 300, min_size=25, target_factor=4 / 3)


def test_request_sizes_reproduce_training_sizes_and_scale_others():
    layout = plan_closest_factor(186, 248, 25, 4 / 3)
    assert request_sizes(layout, 186, 248) == list(layout.sizes)
    wide = request_sizes(layout, 100, 400)
    assert wide[-1] == (100, 400)
    assert all(h <= 100 and w <= 400 for h, w in wide)


@pytest.mark.parametrize("height, width", [(4, 100), (100, 0), (100_000, 100_000)])
def test_absurd_request_sizes_are_rejected(height, width):
    with pytest.raises(RequestError):
        check_request_size(height, width, min_side=16, max_pixels=2048 * 2048)


# The reference code's plan (SinGAN functions.adjust_scales2image + create_reals_pyramid), values
# worked out from its formulas: scale count on the source size, factor re-fitted, sizes rounded up.
REFERENCE_PLANS = {
    # source size: (stop + 1 scales, r = 1 / factor, sizes coarsest first)
    (186, 248): (0.7781321924164794, [(25, 34), (33, 43), (42, 56), (54, 71), (69, 91), (88, 117), (113, 151), (145, 193), (186, 248)]),
    (248, 186): (0.7781321924164794, [(34, 25), (43, 33), (56, 42), (71, 54), (91, 69), (117, 88), (151, 113), (193, 145), (248, 186)]),
    # Larger than max_size: 13 scales planned on 1000x750, 5 of them above 250 px, so 8 + 1 trained.
    (1000, 750): (0.777092593900622, [(34, 25), (43, 33), (56, 42), (71, 54), (92, 69), (118, 89), (151, 114), (195, 147), (250, 188)]),
    # A wide panorama, larger than max_size; its coarsest side lands on 26 through the float product, as in the reference.
    (100, 400): (0.7936880926086217, [(26, 100), (32, 125), (40, 158), (51, 199), (63, 250)]),
    (720, 1280): (0.7810420455400876, [(25, 45), (33, 57), (41, 73), (53, 94), (68, 120), (87, 153), (111, 196), (141, 250)]),
}


@pytest.mark.parametrize("source", list(REFERENCE_PLANS))
def test_the_reference_plan_matches_the_reference_code(source):
    shrink, sizes = REFERENCE_PLANS[source]
    layout = plan_reference(*source, max_size=250, min_size=25, target_factor=4 / 3)
    assert list(layout.sizes) == sizes
    assert 1 / layout.scale_factor == pytest.approx(shrink, rel=1e-12)
    assert layout.size_rounding == "ceil"
    assert request_sizes(layout, *layout.finest_size) == sizes  # requests at the training size: the same sizes


def test_the_reference_fit_never_exceeds_the_maximum():
    # The reference's float product 1920 * (250 / 1920) = 250.00000000000003 would round up to 251.
    assert fit_exactly(1080, 1920, 250) == (141, 250)
    assert fit_exactly(333, 500, 250) == (167, 250)
    assert fit_exactly(100, 80, 250) == (100, 80)


def test_the_paper_preset_plans_singans_balloons_pyramid_and_keeps_the_old_rule_as_a_setting():
    settings = load_settings("paper")
    layout = settings.plan_pyramid(186, 248)
    assert layout.num_scales == 9 and layout.finest_size == (186, 248)
    assert [settings.network.channels_at(n) for n in range(9)] == [32] * 4 + [64] * 4 + [128]
    old = load_settings("paper", overrides={"pyramid": {"plan": "closest_factor"}}).plan_pyramid(186, 248)
    assert old.num_scales == 8 and old.scale_factor == pytest.approx(1.332, abs=1e-3) and old.size_rounding == "round"
