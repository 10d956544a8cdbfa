"""PetsGAN's fourth phase, the learned x2 upsampler: its targets (the source above the training size,
else the training image itself), aligned crops, what it trains, and the switch that leaves it out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sigctl.config import load_settings
from sigctl.core.images import load_rgb
from sigctl.core.pixels import resize, to_network
from sigctl.errors import RunStateError
from sigctl.training.loop import HIGH_RESOLUTION, prepare_high_resolution, prepare_reference, training_context
from sigctl.training.petsgan_upsampler import UpsamplerLevel, level_sizes, random_pairs, upsampler_levels
from sigctl.training.recipes import make_recipe

from ..conftest import BALLOONS

SETTINGS = {"recipe": "petsgan", "optimizer": {"iterations_per_phase": 6}, "checkpoint_interval_seconds": 0}


def _settings(overrides=None):
    return load_settings("tiny", overrides={**SETTINGS, **(overrides or {})})


def _recipe(settings, with_high_resolution: bool):
    reference, info = prepare_reference(BALLOONS, settings)
    high = prepare_high_resolution(BALLOONS, settings, info) if with_high_resolution else None
    layout = settings.plan_pyramid(info.source_height, info.source_width)
    return make_recipe(training_context(settings, reference, layout, torch.device("cpu"), high))


@pytest.mark.parametrize("max_size, expected", [(1024, (186, 248)), (128, (96, 128)), (64, None), (32, None)])
def test_the_targets_are_the_source_fitted_to_upsampler_max_size_when_it_is_larger_than_the_training_size(max_size, expected):
    # balloons.png is 186 x 248; the tiny training size is 48 x 64. The source is never enlarged.
    settings = _settings({"size": {"upsampler_max_size": max_size}})
    assert settings.fit_size(186, 248) == (48, 64)
    assert settings.high_resolution_size(186, 248) == expected
    assert _settings({"optimizer": {"upsampler_iterations": 0}}).high_resolution_size(186, 248) is None  # phase off: nothing stored
    paper = load_settings("paper", overrides={"recipe": "petsgan"})
    assert paper.high_resolution_size(2000, 3000) == (683, 1024) and paper.high_resolution_size(200, 240) is None


def test_level_sizes_are_the_detail_image_and_its_halvings_down_to_the_training_size():
    assert level_sizes((186, 248), (48, 64)) == [(186, 248), (92, 124)]  # 62 < 64: no third level
    assert level_sizes((683, 1024), (168, 256)) == [(682, 1024), (340, 512), (170, 256)]
    assert level_sizes((48, 64), (48, 64)) == [(48, 64)]  # internal learning: the training image from its half
    assert level_sizes((47, 63), (47, 63)) == [(46, 62)]  # sides even, so the input is exactly half


def test_without_a_larger_source_the_phase_learns_the_training_image_from_its_own_half():
    recipe = _recipe(_settings(), with_high_resolution=False)
    recipe.begin_stage(3)
    (level,) = recipe.upsampler_levels
    real = recipe.real[0].numpy()
    assert torch.equal(level.target[0], torch.from_numpy(real))
    assert torch.equal(level.low[0], torch.from_numpy(resize(real, 24, 32)))


def test_with_a_larger_source_the_phase_learns_it_and_its_half(tmp_path):
    settings = _settings()
    recipe = _recipe(settings, with_high_resolution=True)
    recipe.begin_stage(3)
    source = to_network(load_rgb(BALLOONS))  # 186 x 248: at most 1024 px, so the source itself
    targets = [(tuple(level.target.shape[2:]), tuple(level.low.shape[2:])) for level in recipe.upsampler_levels]
    assert targets == [((186, 248), (93, 124)), ((92, 124), (46, 62))]
    np.testing.assert_allclose(recipe.upsampler_levels[0].target[0].numpy(), source, atol=1 / 127.5)  # via the stored uint8 PNG
    np.testing.assert_allclose(recipe.upsampler_levels[1].low[0].numpy(), resize(resize(recipe.context.high_resolution[0].numpy(), 92, 124), 46, 62), atol=1e-6)
    assert HIGH_RESOLUTION == "high_resolution.png"


def test_crops_of_input_and_target_are_aligned_and_of_the_crop_size():
    torch.manual_seed(0)
    target = torch.rand(1, 3, 40, 60)
    # An input made by 2x2 means: a crop pair is aligned exactly when the input crop is the means of the target crop.
    level = UpsamplerLevel(F.avg_pool2d(target, 2), target)
    for _ in range(20):
        low, high = random_pairs([level], batch=3, crop=16)
        assert high.shape == (3, 3, 16, 16) and low.shape == (3, 3, 8, 8)
        torch.testing.assert_close(F.avg_pool2d(high, 2), low, rtol=0, atol=1e-6)
    low, high = random_pairs([level], batch=2, crop=100)  # larger than the level: the whole level (or its mirror)
    assert high.shape == (2, 3, 40, 60)
    assert all(torch.equal(h, target[0]) or torch.equal(h, target[0].flip(2)) for h in high)


def test_the_phase_off_trains_three_phases_into_a_model_without_an_upsampler():
    recipe = _recipe(_settings({"optimizer": {"upsampler_iterations": 0}}), with_high_resolution=False)
    assert recipe.num_stages() == 3 and recipe.model.upsampler is None
    assert [g.name for g in recipe.model.spec().graphs] == ["stage_00", "stage_01", "stage_02"]
    assert recipe.model.config.upsampler_channels == 0
    on = _recipe(_settings(), with_high_resolution=False)
    assert on.iterations(3) == 6 and on.iterations(2) == 6 and [g.name for g in on.model.spec().graphs][-1] == "upsampler"


def test_the_upsampler_doubles_and_starts_as_a_bilinear_enlargement():
    recipe = _recipe(_settings(), with_high_resolution=False)
    upsampler = recipe.model.upsampler
    image = torch.rand(1, 3, 12, 20) * 2 - 1
    with torch.no_grad():
        out = upsampler(image)
        detail = upsampler.body(image)
    assert out.shape == (1, 3, 24, 40)
    bilinear = F.interpolate(image, scale_factor=2.0, mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, torch.clamp(bilinear + detail, -1, 1))


def test_a_checkpoint_from_before_the_upsampler_phase_is_refused_with_how_to_resume_it():
    old = _recipe(_settings({"optimizer": {"upsampler_iterations": 0}}), with_high_resolution=False)
    state = old.state_dict()
    with pytest.raises(RunStateError, match=r"started before PetsGAN's upsampler phase.*set optimizer.upsampler_iterations to 0 in its settings.json"):
        _recipe(_settings(), with_high_resolution=False).load_state_dict(state)
    _recipe(_settings({"optimizer": {"upsampler_iterations": 0}}), with_high_resolution=False).load_state_dict(state)  # so set, it resumes
