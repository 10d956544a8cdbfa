"""Training precision (fp32 / bf16 autocast) and the G step's frozen critic: what each changes, and what not."""

from __future__ import annotations

import logging

import pytest
import torch
from safetensors.torch import load_file

from sigctl.artifact import files
from sigctl.config import load_settings
from sigctl.core.models.singan_config import NetworkSettings
from sigctl.core.precision import CPU_BF16_ENV, cpu_has_bf16
from sigctl.training import losses
from sigctl.training.discriminator import PatchDiscriminator
from sigctl.training.loop import train
from sigctl.training.precision import effective_precision, step_precision

from ..conftest import BALLOONS

CPU = torch.device("cpu")


def critic_and_images(seed: int = 0):
    torch.manual_seed(seed)
    critic = PatchDiscriminator(16, NetworkSettings())
    real, fake = torch.rand(1, 3, 24, 30) * 2 - 1, torch.rand(1, 3, 24, 30) * 2 - 1
    return critic, real, fake


def penalty_and_gradient(precision: str, seed: int) -> tuple[float, torch.Tensor]:
    """WGAN-GP's penalty and D's weight gradient from it (a double backward) at ``precision``."""
    critic, real, fake = critic_and_images(seed)
    torch.manual_seed(1)  # the penalty's interpolation weight
    with step_precision(precision, CPU):
        penalty = losses.gradient_penalty(critic, real, fake)
    penalty.backward()
    # Conv biases before a BatchNorm have no gradient in exact arithmetic: left out of the comparison.
    weights = [module.weight.grad.flatten() for module in critic.modules() if isinstance(module, torch.nn.Conv2d)]
    return penalty.item(), torch.cat(weights)


def test_bf16_autocast_really_runs_the_convolutions_in_bf16_and_leaves_the_losses_in_fp32():
    critic, real, _ = critic_and_images()
    seen = []
    critic.body[0][0].register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    with step_precision("bf16", CPU):
        loss = losses.generator_wgan_loss(critic(real))
    assert seen == [torch.bfloat16]
    assert loss.dtype == torch.float32
    with step_precision("fp32", CPU):
        critic(real)
    assert seen[-1] == torch.float32


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_gradient_penalty_double_backward_in_bf16_stays_within_bf16_rounding_of_fp32(seed):
    """The penalty's gradient goes through a second backward; bf16 must round it, not break it.

    bf16 keeps 8 significant bits (relative step 2^-8 = 0.4 %). Measured on these seeds: the
    penalty within 0.2 %, D's weight gradient within 6-9 % (relative L2) after the forward and two
    backwards through 5 layers. Bounds: 1 % and 20 %. A penalty whose second backward is lost
    (no gradient) or taken on a detached input fails both.
    """
    penalty32, gradient32 = penalty_and_gradient("fp32", seed)
    penalty16, gradient16 = penalty_and_gradient("bf16", seed)
    assert abs(penalty16 - penalty32) <= 0.01 * penalty32
    assert (gradient16 - gradient32).norm() <= 0.2 * gradient32.norm()
    assert not torch.equal(gradient16, gradient32), "bf16 changed nothing: autocast did not run"


def test_the_generator_loss_gives_the_critic_no_gradient_and_the_fake_the_same_gradient():
    critic, _, fake = critic_and_images()
    critic.body[1][0].weight.requires_grad_(False)  # a parameter frozen before stays frozen after
    fake_frozen = fake.clone().requires_grad_(True)
    losses.WGANGP(0.1).generator_loss(critic, fake_frozen).backward()
    assert all(p.grad is None for p in critic.parameters())
    assert [p.requires_grad for p in critic.parameters()] == [p is not critic.body[1][0].weight for p in critic.parameters()]

    fake_plain = fake.clone().requires_grad_(True)
    losses.generator_wgan_loss(critic(fake_plain)).backward()  # the same loss, the critic's weights recorded
    assert critic.body[0][0].weight.grad is not None
    assert torch.equal(fake_frozen.grad, fake_plain.grad)


def test_the_critic_loss_is_averaged_in_fp32_under_bf16():
    critic, real, fake = critic_and_images()
    with step_precision("bf16", CPU):
        assert losses.discriminator_wgan_loss(critic(real), critic(fake)).dtype == torch.float32
        assert losses.discriminator_hinge_loss(critic(real), critic(fake)).dtype == torch.float32


def test_without_bf16_instructions_bf16_falls_back_to_fp32_with_a_warning(monkeypatch, caplog):
    monkeypatch.setenv(CPU_BF16_ENV, "0")
    with caplog.at_level(logging.WARNING, logger="sigctl.training.precision"):
        assert effective_precision("bf16", CPU) == "fp32"
    assert "no bf16 instructions" in caplog.text
    assert effective_precision("fp32", CPU) == "fp32"


def test_cpu_bf16_detection_can_be_forced_off_and_on(monkeypatch):
    monkeypatch.setenv(CPU_BF16_ENV, "0")
    assert not cpu_has_bf16()
    monkeypatch.setenv(CPU_BF16_ENV, "1")
    assert cpu_has_bf16()


@pytest.mark.slow
def test_without_bf16_instructions_a_bf16_run_trains_exactly_as_fp32_and_says_so(tmp_path, monkeypatch, caplog):
    """A CPU without bf16 would emulate it slowly: the run falls back to fp32, bit for bit, with a warning."""
    monkeypatch.setenv(CPU_BF16_ENV, "0")
    settings = load_settings("tiny", overrides={"optimizer": {"iterations_per_scale": 6}, "report_samples": 1})
    with caplog.at_level(logging.WARNING, logger="sigctl.training.precision"):
        train(BALLOONS, tmp_path / "bf16", settings.model_copy(update={"precision": "bf16"}))
    assert "no bf16 instructions" in caplog.text
    train(BALLOONS, tmp_path / "fp32", settings)
    bf16_weights, fp32_weights = (load_file(tmp_path / name / files.MODEL_WEIGHTS) for name in ("bf16", "fp32"))
    assert bf16_weights.keys() == fp32_weights.keys()
    assert all(torch.equal(bf16_weights[key], fp32_weights[key]) for key in fp32_weights)


@pytest.mark.slow
@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bf16 instructions")
def test_with_bf16_instructions_a_bf16_run_trains_in_bf16(tmp_path):
    assert effective_precision("bf16", CPU) == "bf16"
    settings = load_settings("tiny", overrides={"optimizer": {"iterations_per_scale": 6}, "report_samples": 1})
    train(BALLOONS, tmp_path / "bf16", settings.model_copy(update={"precision": "bf16"}))
    train(BALLOONS, tmp_path / "fp32", settings)
    bf16_weights, fp32_weights = (load_file(tmp_path / name / files.MODEL_WEIGHTS) for name in ("bf16", "fp32"))
    assert any(not torch.equal(bf16_weights[key], fp32_weights[key]) for key in fp32_weights)
