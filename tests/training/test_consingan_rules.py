"""ConSinGAN's training rules, each checked against a computation made here, independently.

DESIGN.md, "ConSinGAN, as its public code does it". Tiny sizes and fixed seeds; every rule was
broken once for real to watch its test fail (see the closing note of the model-interface issue).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sigctl.config import ConSinGANSettings, load_settings
from sigctl.core.images import load_rgb
from sigctl.core.pixels import resize, to_network, to_uint8
from sigctl.core.stages import unit_noise
from sigctl.training.loop import training_context
from sigctl.training.recipes import make_recipe

from ..conftest import BALLOONS

CPU = torch.device("cpu")
LR = 5e-4


def make(overrides: dict | None = None, iterations: int = 10, stages: int = 5):
    """A ConSinGAN recipe on balloons at the tiny preset, with ``stages`` stages, as the loop builds it."""
    values = {"recipe": "consingan", "optimizer": {"iterations_per_stage": iterations}, "stages": {"num_stages": stages, "max_size": 40}}
    for key, value in (overrides or {}).items():
        values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
    settings = load_settings("tiny", overrides=values)
    rgb = load_rgb(BALLOONS)
    layout = settings.plan_pyramid(*rgb.shape[:2])
    reference = to_uint8(resize(to_network(rgb), *layout.finest_size))
    return make_recipe(training_context(settings, reference, layout, CPU))


def run_stage(recipe, stage: int, iterations: int | None = None) -> None:
    torch.manual_seed(stage)
    recipe.begin_stage(stage)
    for iteration in range(recipe.iterations(stage) if iterations is None else iterations):
        recipe.step(iteration)


def advance_to(recipe, stage: int) -> None:
    """Train stages 0..stage-1 briefly and begin ``stage``."""
    for earlier in range(stage):
        run_stage(recipe, earlier, iterations=1)
        recipe.end_stage()
    torch.manual_seed(stage)
    recipe.begin_stage(stage)


def test_the_paper_settings_plan_the_worked_example_stages():
    # DESIGN.md: a 188x250 image (after fitting) -> 25x34, 32x42, 42x56, 63x84, 126x167, 188x250.
    layout = ConSinGANSettings().plan_pyramid(188, 250)
    assert layout.sizes == ((25, 34), (32, 42), (42, 56), (63, 84), (126, 167), (188, 250))
    assert layout.stage_scales[-1] == 1.0 and layout.size_rounding == "ceil"
    # Balloons is 186x248 after fitting: the same rule.
    rgb = load_rgb(BALLOONS)
    assert ConSinGANSettings().plan_pyramid(*rgb.shape[:2]).sizes[-1] == (186, 248)


@pytest.mark.parametrize("stage", [0, 1, 2, 3, 4])
def test_learning_rate_groups_follow_the_reference(stage):
    # Newest three blocks at lr x1, x0.1, x0.01 (newest first); the head while stage < 3 at lr x 0.1**stage; the tail at lr.
    recipe = make()
    advance_to(recipe, stage)
    groups = {group["name"]: group["lr"] for group in recipe.generator_optimizer.param_groups}
    expected = {f"body.{stage - k}": LR * 0.1**k for k in range(min(3, stage + 1))}
    if stage < 3:
        expected["head"] = LR * 0.1**stage
    expected["tail"] = LR
    assert groups.keys() == expected.keys()
    for name, lr in expected.items():
        assert groups[name] == pytest.approx(lr, rel=1e-12), name


def _parameters(module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(before: list[torch.Tensor], module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


@pytest.mark.parametrize("stage", [2, 3])
def test_the_head_freezes_at_depth_three_the_tail_always_trains_and_old_blocks_stay_frozen(stage):
    recipe = make()
    advance_to(recipe, stage)
    generator = recipe.model.generator
    head, tail, blocks = _parameters(generator.head), _parameters(generator.tail), [_parameters(b) for b in generator.body]
    for iteration in range(2):
        recipe.step(iteration)
    assert _changed(head, generator.head) == (stage < 3)
    assert _changed(tail, generator.tail)
    for index, block in enumerate(generator.body):
        assert _changed(blocks[index], block) == (index > stage - 3), index


def test_a_new_stage_starts_as_a_copy_of_the_newest_block_and_the_previous_discriminator():
    recipe = make()
    run_stage(recipe, 0, iterations=3)
    recipe.end_stage()
    trained_block = copy.deepcopy(recipe.model.generator.body[0])
    trained_discriminator = copy.deepcopy(recipe.discriminator)
    torch.manual_seed(1)
    recipe.begin_stage(1)
    body = recipe.model.generator.body
    assert len(body) == 2
    for a, b, trained in zip(body[0].parameters(), body[1].parameters(), trained_block.parameters()):
        assert torch.equal(a, trained) and torch.equal(b, trained) and a.data_ptr() != b.data_ptr()
    for a, b in zip(recipe.discriminator.state_dict().values(), trained_discriminator.state_dict().values()):
        assert torch.equal(a, b)


def _reconstruction_inputs(recipe, stage: int) -> list[torch.Tensor]:
    """z_rec as DESIGN.md says: the coarsest real image, then fixed hash noise (C channels, margin) per stage."""
    model, sizes = recipe.model, recipe.context.layout.sizes
    seed, channels, margin = model.config.reconstruction_seed, model.config.channels, model.config.layers_per_block
    noises = [recipe.context.reals[0]]
    for k in range(1, stage + 1):
        fixed = np.stack([np.asarray(unit_noise(model.noise_spec(k), seed, k, *sizes[k]))])
        assert fixed.shape == (1, channels, sizes[k][0] + 2 * margin, sizes[k][1] + 2 * margin)
        noises.append(torch.from_numpy(fixed))
    return noises


@pytest.mark.parametrize("stage", [1, 2])
def test_the_amplitude_is_set_once_at_stage_start_from_the_warm_started_reconstruction(stage):
    recipe = make()
    for earlier in range(stage):
        run_stage(recipe, earlier, iterations=2)
        recipe.end_stage()
    # What the stage will start from: the trained model grown by a copy of its newest block, amplitude 0.
    grown = copy.deepcopy(recipe.model)
    grown.grow(0.0)
    with torch.no_grad():
        reconstruction = grown.generator(_reconstruction_inputs(recipe, stage), grown.noise_amplitudes)
    expected = 0.1 * torch.sqrt(F.mse_loss(reconstruction, recipe.context.reals[stage]))
    torch.manual_seed(stage)
    recipe.begin_stage(stage)
    assert recipe.model.noise_amplitudes[0] == 1.0
    assert recipe.model.noise_amplitudes[stage].item() == pytest.approx(expected.item(), rel=1e-6)
    recipe.step(0)
    assert recipe.model.noise_amplitudes[stage].item() == pytest.approx(expected.item(), rel=1e-6)  # not re-estimated per iteration


def test_the_reconstruction_feeds_the_coarsest_real_image_then_fixed_noise():
    recipe = make()
    advance_to(recipe, 2)
    model = copy.deepcopy(recipe.model)
    logged = recipe.step(0)
    with torch.no_grad():
        expected = F.mse_loss(model.generator(_reconstruction_inputs(recipe, 2), model.noise_amplitudes), recipe.context.reals[2])
    assert logged["rec"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert logged["g"].item() == pytest.approx(logged["g_adv"].item() + 10.0 * logged["rec"].item(), rel=1e-5)


def test_the_served_reconstruction_is_the_training_reconstruction(tmp_path):
    from sigctl.core.in_process import TorchExecutor

    recipe = make(stages=3)
    for stage in range(3):
        run_stage(recipe, stage, iterations=1)
        recipe.end_stage()
    with torch.no_grad():
        expected = recipe.model.generator(_reconstruction_inputs(recipe, 2), recipe.model.noise_amplitudes)
    assert np.array_equal(TorchExecutor(recipe.model).reconstruction(), expected.numpy())


def test_one_noise_draw_per_iteration_shared_by_the_d_steps():
    recipe = make({"optimizer": {"discriminator_steps": 3}})
    advance_to(recipe, 1)
    before = recipe.noise.draws
    for iteration in range(4):
        recipe.step(iteration)
    assert recipe.noise.draws - before == 4


def _one_gradient_then_steps(recipe, steps: int) -> list[torch.Tensor]:
    """G after ``steps`` Adam steps on the gradient of one G loss, computed here from a copy."""
    twin = copy.deepcopy(recipe)
    noises = twin.draw_noises()
    fake = twin.fake(noises)
    g_loss, _ = twin.generator_loss(fake)
    twin.generator_optimizer.zero_grad(set_to_none=True)
    g_loss.backward()
    for _ in range(steps):
        twin.generator_optimizer.step()
    return [p.detach().clone() for p in twin.model.generator.parameters()]


@pytest.mark.parametrize("update", ["repeat_step", "fresh_gradient"])
def test_generator_steps_repeat_the_one_gradient_only_in_the_reference_mode(update):
    recipe = make({"optimizer": {"discriminator_steps": 1, "generator_steps": 3, "generator_update": update}})
    advance_to(recipe, 1)
    # With the D step taken out (lr 0), the G update is all that moves G.
    for group in recipe.discriminator_optimizer.param_groups:
        group["lr"] = 0.0
    expected = _one_gradient_then_steps(recipe, 3)
    recipe.step(0)
    same = all(torch.equal(a, b) for a, b in zip(recipe.model.generator.parameters(), expected))
    assert same == (update == "repeat_step")


def test_the_learning_rate_drops_by_the_factor_at_the_milestone():
    recipe = make(iterations=10)
    run_stage(recipe, 0, iterations=8)
    # Stage 0's groups: its block, the head and the tail, all at lr before the drop.
    assert [group["lr"] for group in recipe.generator_optimizer.param_groups] == pytest.approx([LR * 0.1] * 3)
    assert recipe.discriminator_optimizer.param_groups[0]["lr"] == pytest.approx(LR * 0.1)
