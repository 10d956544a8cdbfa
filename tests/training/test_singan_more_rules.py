"""More training rules, from an adversarial mutation review: losses in closed form, optimisers, step counts, stored amplitudes, seeds, reals, resume, loaded artifacts, plans, settings merging, network structure, padding and init."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sigctl import artifact
from sigctl.artifact import files
from sigctl.artifact.store import read_manifest
from sigctl.config import NetworkSettings, SinGANSettings, load_settings
from sigctl.core.generator import ScaleGenerator
from sigctl.core.pixels import resize, to_network
from sigctl.core.scales import plan_reference, request_sizes
from sigctl.training import losses
from sigctl.training.discriminator import PatchDiscriminator
from sigctl.training.loop import TrainingObserver, resume, stage_seed, train

from ..conftest import BALLOONS, FORMAT_2_FIXTURE
from .test_singan_rules import begin, make


# -- losses -----------------------------------------------------------------------------------------

class HalfSquare(nn.Module):
    """D(x) = x^2 / 2 per pixel and channel: dD/dx = x, so the penalty has a closed form."""

    def forward(self, x):
        return 0.5 * x**2


def test_gradient_penalty_closed_form():
    real, fake = torch.ones(2, 3, 4, 5), torch.zeros(2, 3, 4, 5)
    torch.manual_seed(0)
    mix = torch.rand(2, 1, 1, 1)  # one mix per sample
    torch.manual_seed(0)
    penalty = losses.gradient_penalty(HalfSquare(), real, fake)
    # grad at x_hat = mix_i everywhere; per-pixel norm over 3 channels = sqrt(3) * mix_i; squared, mean.
    expected = ((3**0.5 * mix.flatten() - 1) ** 2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-6)


def test_wgan_losses_are_means_with_the_right_signs():
    real = torch.arange(121.0).reshape(1, 1, 11, 11)
    fake = torch.full((1, 1, 11, 11), 2.0)
    assert losses.discriminator_wgan_loss(real, fake).item() == pytest.approx(2.0 - 60.0)
    assert losses.generator_wgan_loss(real).item() == pytest.approx(-60.0)


# -- optimisers and steps ---------------------------------------------------------------------------------

def test_each_network_has_its_own_adam_with_the_configured_betas_and_rate():
    recipe = make({"optimizer": {"betas": [0.3, 0.9], "generator_lr": 1e-3, "discriminator_lr": 2e-4, "lr_decay_factor": 0.5, "iterations_per_scale": 10}})
    begin(recipe, 0)
    g, d = recipe.generator_optimizer, recipe.discriminator_optimizer
    assert g is not d
    assert {id(p) for group in g.param_groups for p in group["params"]} == {id(p) for p in recipe.generator.parameters()}
    assert {id(p) for group in d.param_groups for p in group["params"]} == {id(p) for p in recipe.discriminator.parameters()}
    assert g.param_groups[0]["betas"] == (0.3, 0.9) and d.param_groups[0]["betas"] == (0.3, 0.9)
    assert g.param_groups[0]["lr"] == 1e-3 and d.param_groups[0]["lr"] == 2e-4
    for iteration in range(10):
        recipe.step(iteration)
    assert g.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5) and d.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.5)
    # A G step leaves D untouched.
    before = [p.detach().clone() for p in recipe.discriminator.parameters()]  # parameters: BN running stats do move
    recipe.generator_step()
    assert all(torch.equal(a, b) for a, b in zip(before, recipe.discriminator.parameters()))


def test_an_iteration_runs_the_configured_numbers_of_d_and_g_steps():
    recipe = make({"optimizer": {"discriminator_steps": 2, "generator_steps": 3}})
    begin(recipe, 0)
    calls = []
    d_step, g_step = recipe.discriminator_step, recipe.generator_step
    recipe.discriminator_step = lambda: (calls.append("d"), d_step())[1]
    recipe.generator_step = lambda: (calls.append("g"), g_step())[1]
    recipe.step(0)
    assert calls == ["d", "d", "g", "g", "g"]


# -- amplitudes, seeds, reals -------------------------------------------------------------------------

def test_the_pyramid_stores_the_amplitude_each_stage_trained_with():
    recipe = make()
    seen = []
    for stage in range(3):
        begin(recipe, stage)
        seen.append(recipe.noise_amplitude)
        recipe.step(0)
        recipe.end_stage()
    assert recipe.model.noise_amplitudes.tolist() == pytest.approx(seen, rel=1e-6)
    assert seen[0] == 1.0 and seen[1] != seen[2]


def test_the_training_seed_reaches_the_noise_and_torchs_stream():
    assert len({stage_seed(t, s) for t in range(5) for s in range(20)}) == 100
    a, b = make({"seed": 0}), make({"seed": 1})
    begin(a, 0)
    begin(b, 0)
    assert b.noise.training_seed == 1
    assert not torch.equal(a.model.reconstruction_noise, b.model.reconstruction_noise)
    assert not torch.equal(a.generator.body[0][0].weight, b.generator.body[0][0].weight)


def test_reals_are_the_reference_resized_with_the_pixel_resize():
    recipe = make()
    reference = to_network(recipe.context.reals[-1][0].permute(1, 2, 0).add(1).mul(127.5).round().byte().numpy())
    for real in recipe.context.reals:
        assert torch.equal(real[0], torch.from_numpy(resize(reference, *real.shape[-2:])))


# -- networks -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, torch_mode", [("zero", "constant"), ("replicate", "replicate"), ("circular", "circular")])
def test_the_generator_pads_its_input_once_with_the_padding_mode(mode, torch_mode):
    generator = ScaleGenerator(4, NetworkSettings(padding_mode=mode))
    seen = []
    generator.body.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x = torch.rand(1, 3, 9, 11)
    generator(torch.zeros_like(x), x)
    assert torch.equal(seen[0], F.pad(x, (5, 5, 5, 5), mode=torch_mode))


def test_network_structure_follows_the_settings():
    settings = NetworkSettings(leaky_relu_slope=0.05, base_channels=8, max_channels=16, channel_doubling_interval=2)
    for net in (ScaleGenerator(4, settings), PatchDiscriminator(4, settings)):
        slopes = [m.negative_slope for m in net.modules() if isinstance(m, nn.LeakyReLU)]
        assert slopes == [0.05] * 4
        assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 4
    assert [settings.channels_at(n) for n in range(7)] == [8, 8, 16, 16, 16, 16, 16]


def test_init_is_n_0_002_and_batchnorm_n_1_002():
    torch.manual_seed(0)
    net = ScaleGenerator(64, NetworkSettings())
    convs = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, nn.Conv2d)])
    bns = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(convs.mean().item()) < 1e-3 and convs.std().item() == pytest.approx(0.02, rel=0.03)
    assert bns.mean().item() == pytest.approx(1.0, abs=0.005) and bns.std().item() == pytest.approx(0.02, rel=0.25)


# -- settings -------------------------------------------------------------------------------------------

def test_layers_merge_deeply_and_overrides_win_over_the_file(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("seed: 5\noptimizer:\n  iterations_per_scale: 7\n")
    settings = load_settings("quick", config, {"seed": 3})
    assert settings.optimizer.generator_steps == 1  # from the preset, next to the file's key
    assert settings.seed == 3


def test_plans_honour_max_size_and_the_sr_step_rounding():
    # reference plan at max_size 64: 186x248 -> stop = 10 - ceil(log(64/248)/log .75) = 10 - 5 = 5
    layout = plan_reference(186, 248, max_size=64, min_size=20, target_factor=4 / 3)
    assert layout.num_scales == 5 and layout.finest_size == (48, 64)
    closest = load_settings("tiny", overrides={"pyramid": {"plan": "closest_factor"}})
    assert closest.fit_size(186, 248) == (24, 32)
    # log(2.2) / log(2^(1/3)) = 3.41: 3 steps
    assert SinGANSettings(super_resolution_factor=2.2).exact_scale_factor() == pytest.approx(2.2 ** (1 / 3))


# -- resume and artifact --------------------------------------------------------------------------------

class StopAfterFirstStages(TrainingObserver):
    def __init__(self, stages):
        self.stages = stages

    def stage_finished(self, stage):
        if stage + 1 == self.stages:
            raise KeyboardInterrupt


def test_resume_after_two_stages_equals_an_uninterrupted_run(tmp_path):
    settings = load_settings("tiny", overrides={"optimizer": {"iterations_per_scale": 3}})
    with pytest.raises(KeyboardInterrupt):
        train(BALLOONS, tmp_path / "killed", settings, StopAfterFirstStages(2))
    resume(tmp_path / "killed")
    train(BALLOONS, tmp_path / "whole", settings)
    a, b = artifact.load(tmp_path / "killed"), artifact.load(tmp_path / "whole")
    assert a.model.noise_amplitudes.tolist() == b.model.noise_amplitudes.tolist()
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sb)


def test_the_loaded_artifact_is_the_trained_pyramid(tiny_run):
    from safetensors.torch import load_file

    loaded = artifact.load(tiny_run)
    checkpoint = load_file(str(next((tiny_run / files.CHECKPOINTS).glob("stage_*.safetensors"))))
    assert torch.equal(loaded.model.noise_amplitudes, checkpoint["model.noise_amplitudes"])
    assert torch.equal(loaded.model.reconstruction_noise, checkpoint["model.reconstruction_noise"])
    assert loaded.spec.layout.size_rounding == "ceil"
    layout = loaded.model.layout
    assert request_sizes(layout, *layout.finest_size) == list(layout.sizes)


def test_a_format_1_manifest_reads_as_the_closest_factor_plan(tmp_path):
    run = tmp_path / "old"
    shutil.copytree(FORMAT_2_FIXTURE, run)
    raw = json.loads((run / files.MANIFEST).read_text())
    raw["format_version"] = 1
    raw.pop("size_rounding")
    raw["training"]["pyramid"].pop("plan")
    (run / files.MANIFEST).write_text(json.dumps(raw))
    manifest = read_manifest(run)
    assert manifest.training["pyramid"]["plan"] == "closest_factor" and manifest.model.config["size_rounding"] == "round"
