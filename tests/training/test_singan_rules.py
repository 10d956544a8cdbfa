"""The rules of SinGAN training (../shared/DESIGN.md, "The base algorithm"), each pinned on the recipe itself.

Tiny sizes and fixed seeds; every test calls the recipe directly and checks a rule against an
independent computation, so a recipe that drifts from a rule fails here, not only in quality.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sigctl.config import load_settings
from sigctl.core.generator import ScaleGenerator
from sigctl.core.images import load_rgb
from sigctl.core.noise import scale_noise
from sigctl.core.models.singan import upsample
from sigctl.training.discriminator import PatchDiscriminator
from sigctl.training.loop import stage_seed, training_context
from sigctl.training.noise import TrainingNoise, training_noise_seed
from sigctl.training.recipes import make_recipe

from ..conftest import BALLOONS

CPU = torch.device("cpu")


def make(overrides: dict | None = None, iterations: int = 10):
    """A SinGAN recipe on balloons at the tiny preset (3 scales of up to 24x32), as the loop builds it."""
    settings = load_settings("tiny", overrides={"optimizer": {"iterations_per_scale": iterations}, **(overrides or {})})
    rgb = load_rgb(BALLOONS)
    layout = settings.plan_pyramid(*rgb.shape[:2])
    from sigctl.core.pixels import resize, to_network, to_uint8

    reference = to_uint8(resize(to_network(rgb), *layout.finest_size))
    return make_recipe(training_context(settings, reference, layout, CPU))


def begin(recipe, stage: int) -> None:
    torch.manual_seed(stage_seed(recipe.settings.seed, stage))
    recipe.begin_stage(stage)


def train_stages(recipe, count: int, iterations: int = 2) -> None:
    """Run stages 0..count-1 for a few iterations each, as the loop does."""
    for stage in range(count):
        begin(recipe, stage)
        for iteration in range(iterations):
            recipe.step(iteration)
        recipe.end_stage()


def floats(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    """A step's loss tensors read back, as the loop reads them once per log window."""
    return {name: value.item() for name, value in losses.items()}


def bilinear(image: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(image, size=tuple(size), mode="bilinear", align_corners=False)


# -- the fake of the G step ---------------------------------------------------------------------

@pytest.mark.parametrize("stage", [0, 1])
def test_the_generator_step_uses_a_fresh_fake_with_gradients(stage):
    recipe = make({"loss": {"reconstruction_weight": 0.0}})
    train_stages(recipe, stage)
    begin(recipe, stage)
    recipe.discriminator_step()
    draws_before = recipe.noise.draws
    generator_before = copy.deepcopy(recipe.generator)
    discriminator = copy.deepcopy(recipe.discriminator)

    losses = recipe.generator_step()

    # A new noise draw, never seen by the D step ...
    assert recipe.noise.draws == draws_before + 1
    seed = training_noise_seed(recipe.settings.seed, stage, draws_before)
    sizes = recipe.model.layout.sizes
    noises = [torch.from_numpy(scale_noise(seed, n, *sizes[n], single_channel=n == 0))[None] for n in range(stage + 1)]
    entering = torch.zeros_like(recipe.context.reals[0])
    with torch.no_grad():
        if stage > 0:
            entering = upsample(recipe.model.run(entering, noises[:-1]), sizes[stage])
        fake = generator_before(noises[-1] * recipe.noise_amplitude, entering)
        expected_adversarial = -discriminator(fake).mean().item()
    # ... whose adversarial loss is the one G was trained on,
    assert losses["g_adv"] == pytest.approx(expected_adversarial, rel=1e-5, abs=1e-7)
    # and with alpha = 0 only that loss moved G: it carried gradients into the generator.
    gradients = [p.grad for p in recipe.generator.parameters()]
    assert all(g is not None for g in gradients) and sum(g.abs().sum().item() for g in gradients) > 0
    moved = [not torch.equal(a, b) for a, b in zip(generator_before.parameters(), recipe.generator.parameters())]
    assert all(moved)


def test_the_discriminator_step_gives_the_generator_no_gradient():
    recipe = make()
    begin(recipe, 0)
    recipe.discriminator_step()
    assert all(p.grad is None for p in recipe.generator.parameters())


# -- noise amplitude ----------------------------------------------------------------------------

@pytest.mark.parametrize("amplitude_scale", [0.1, 0.25])
def test_noise_amplitude_is_the_scale_times_the_rmse_of_the_upsampled_reconstruction(amplitude_scale):
    recipe = make({"loss": {"noise_amplitude_scale": amplitude_scale}})
    begin(recipe, 0)
    assert recipe.noise_amplitude == 1.0  # the coarsest scale
    for iteration in range(3):
        recipe.step(iteration)
    recipe.end_stage()
    for stage in (1, 2):
        begin(recipe, stage)
        pyramid, real = recipe.model, recipe.context.reals[stage]
        reconstruction = bilinear(pyramid.reconstruct(up_to=stage), real.shape[-2:])
        expected = amplitude_scale * torch.sqrt(((reconstruction - real) ** 2).mean()).item()
        assert recipe.noise_amplitude == pytest.approx(expected, rel=1e-6)
        assert expected > 0
        recipe.step(0)
        recipe.end_stage()
    assert pyramid.noise_amplitudes[0].item() == 1.0


# -- loss weights -------------------------------------------------------------------------------

def one_discriminator_step(gradient_penalty_weight: float):
    recipe = make({"loss": {"gradient_penalty_weight": gradient_penalty_weight}})
    begin(recipe, 0)
    torch.manual_seed(5)  # the same interpolation mix in both runs
    losses = floats(recipe.discriminator_step())
    return losses, [p.detach().clone() for p in recipe.discriminator.parameters()]


def test_the_gradient_penalty_weight_enters_the_discriminator_loss():
    low, low_weights = one_discriminator_step(0.1)
    high, high_weights = one_discriminator_step(5.0)
    assert low["gp"] == pytest.approx(high["gp"], rel=1e-6) and low["gp"] > 0
    assert high["d"] - low["d"] == pytest.approx((5.0 - 0.1) * low["gp"], rel=1e-4)
    assert any(not torch.equal(a, b) for a, b in zip(low_weights, high_weights))  # and into its gradient


def one_generator_step(reconstruction_weight: float):
    recipe = make({"loss": {"reconstruction_weight": reconstruction_weight}})
    begin(recipe, 0)
    losses = floats(recipe.generator_step())
    return losses, [p.detach().clone() for p in recipe.generator.parameters()]


def test_the_reconstruction_weight_enters_the_generator_loss():
    plain, plain_weights = one_generator_step(0.0)
    weighted, weighted_weights = one_generator_step(10.0)
    assert plain["rec"] == pytest.approx(weighted["rec"], rel=1e-6) and plain["rec"] > 0
    assert weighted["g"] == pytest.approx(weighted["g_adv"] + 10.0 * weighted["rec"], rel=1e-5)
    assert plain["g"] == pytest.approx(plain["g_adv"], rel=1e-5)
    assert any(not torch.equal(a, b) for a, b in zip(plain_weights, weighted_weights))


# -- learning rate --------------------------------------------------------------------------------

@pytest.mark.parametrize("iterations, decay_at, milestone", [(10, 0.8, 8), (20, 0.5, 10)])
def test_the_learning_rate_drops_by_the_factor_at_the_milestone(iterations, decay_at, milestone):
    recipe = make({"optimizer": {"iterations_per_scale": iterations, "lr_decay_at": decay_at}}, iterations=iterations)
    begin(recipe, 0)
    base_g, base_d = recipe.settings.optimizer.generator_lr, recipe.settings.optimizer.discriminator_lr
    for iteration in range(iterations):
        factor = 1.0 if iteration < milestone else 0.1
        assert recipe.generator_optimizer.param_groups[0]["lr"] == pytest.approx(base_g * factor), iteration
        assert recipe.discriminator_optimizer.param_groups[0]["lr"] == pytest.approx(base_d * factor), iteration
        recipe.step(iteration)
    # A new stage starts again at the full rate.
    recipe.end_stage()
    begin(recipe, 1)
    assert recipe.generator_optimizer.param_groups[0]["lr"] == pytest.approx(base_g)


# -- warm start -----------------------------------------------------------------------------------

WARM = {"network": {"base_channels": 4, "max_channels": 8, "channel_doubling_interval": 2}}  # channels 4, 4, 8


def fresh_networks(recipe, stage: int):
    torch.manual_seed(stage_seed(recipe.settings.seed, stage))
    channels = recipe.settings.network.channels_at(stage)
    return ScaleGenerator(channels, recipe.settings.network), PatchDiscriminator(channels, recipe.settings.network)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("warm_start", [True, False])
def test_networks_start_from_the_previous_scale_only_where_channel_counts_match(warm_start):
    recipe = make({**WARM, "init_from_previous_scale": warm_start})
    assert [recipe.settings.network.channels_at(n) for n in range(3)] == [4, 4, 8]
    train_stages(recipe, 1)
    trained_generator, trained_discriminator = copy.deepcopy(recipe.model.generators[0]), copy.deepcopy(recipe.discriminator)

    begin(recipe, 1)  # 4 channels, like scale 0
    fresh_generator, fresh_discriminator = fresh_networks(recipe, 1)
    if warm_start:
        assert same_weights(recipe.generator, trained_generator) and same_weights(recipe.discriminator, trained_discriminator)
    else:
        assert same_weights(recipe.generator, fresh_generator) and same_weights(recipe.discriminator, fresh_discriminator)
    recipe.step(0)
    recipe.end_stage()

    begin(recipe, 2)  # 8 channels: nothing to start from, a fresh N(0, 0.02) init
    fresh_generator, fresh_discriminator = fresh_networks(recipe, 2)
    assert same_weights(recipe.generator, fresh_generator) and same_weights(recipe.discriminator, fresh_discriminator)


# -- the reconstruction path ------------------------------------------------------------------------

def test_the_reconstruction_path_feeds_z_star_at_the_coarsest_and_the_upsampled_reconstruction_above():
    recipe = make()
    begin(recipe, 0)
    real0 = recipe.context.reals[0]
    z_star = recipe.model.reconstruction_noise.clone()
    # z* is hash noise of the stage's first draw, one channel repeated over RGB.
    seed = training_noise_seed(recipe.settings.seed, 0, 0)
    assert torch.equal(z_star[0], torch.from_numpy(scale_noise(seed, 0, *real0.shape[-2:], single_channel=True)))
    assert torch.equal(z_star[0, 0], z_star[0, 1]) and torch.equal(z_star[0, 0], z_star[0, 2])
    generator = copy.deepcopy(recipe.generator)
    losses = recipe.generator_step()
    with torch.no_grad():
        expected = ((generator(z_star * 1.0, torch.zeros_like(real0)) - real0) ** 2).mean().item()
    assert losses["rec"] == pytest.approx(expected, rel=1e-6)
    recipe.end_stage()

    for stage in (1, 2):
        begin(recipe, stage)
        real = recipe.context.reals[stage]
        entering = bilinear(recipe.model.reconstruct(up_to=stage), real.shape[-2:])
        generator = copy.deepcopy(recipe.generator)
        losses = recipe.generator_step()
        with torch.no_grad():
            # z_rec is zero above the coarsest scale: only the upsampled reconstruction enters.
            expected = ((generator(torch.zeros_like(real), entering) - real) ** 2).mean().item()
        assert losses["rec"] == pytest.approx(expected, rel=1e-6)
        recipe.end_stage()
    # z* survives the whole run unchanged.
    assert torch.equal(recipe.model.reconstruction_noise, z_star)


# -- randomness -------------------------------------------------------------------------------------

def test_every_stage_and_draw_has_its_own_noise_and_replays_exactly():
    seeds = {(t, stage, draw): training_noise_seed(t, stage, draw) for t in (0, 1, 2**40) for stage in range(10) for draw in range(100)}
    assert len(set(seeds.values())) == len(seeds)  # no two draws share noise
    assert all(0 <= s < 2**63 for s in seeds.values())
    assert training_noise_seed(0, 3, 7) == seeds[(0, 3, 7)]  # a pure function: a resumed stage replays it
    first = [TrainingNoise(0, stage, CPU).sample_noises([(8, 9)])[0] for stage in (0, 1)]
    assert not torch.equal(first[0], first[1])
    assert len({stage_seed(0, stage) for stage in range(20)}) == 20  # torch's stream (init, GP mix) per stage too


def test_training_draws_the_noise_that_sampling_uses():
    # Not torch.randn: the same bounded sum-of-uniforms noise a served sample gets.
    noise = TrainingNoise(4, 2, CPU)
    seed = noise.next_seed()
    drawn = noise.at(seed, 1, (11, 13))
    assert torch.equal(drawn[0], torch.from_numpy(scale_noise(seed, 1, 11, 13, single_channel=False)))
    assert drawn.abs().max() <= 3.5


# -- upsampling -------------------------------------------------------------------------------------

def test_scales_are_joined_by_bilinear_upsampling_with_half_pixel_centres():
    image = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    # Source coordinates (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped at the border.
    edge = [0.0, 0.25, 0.75, 1.0]
    expected = torch.tensor([[2 * y + x for x in edge] for y in edge])[None, None]
    assert torch.allclose(upsample(image, (4, 4)), expected, atol=1e-7)
    assert upsample(image, (2, 2)) is image  # equal size: untouched


def test_the_reconstruction_entering_a_scale_is_the_bilinearly_upsampled_previous_one():
    recipe = make()
    train_stages(recipe, 1)
    begin(recipe, 1)
    expected = bilinear(recipe.model.reconstruct(up_to=1), recipe.context.reals[1].shape[-2:])
    assert torch.equal(recipe.reconstruction_entering, expected)
    assert np.allclose(recipe.reconstruction_entering.shape[-2:], recipe.context.reals[1].shape[-2:])
