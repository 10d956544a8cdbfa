"""SinGAN (seeds 001/002): scales trained one at a time, coarse to fine, each frozen when done.

Per iteration: D steps on fresh fakes with WGAN-GP, then G steps on a *fresh* fake (the reference
code reused the last D-step fake, the bug seed 003 reports), adversarial + alpha x reconstruction.
All noise, z* included, is the hash noise sampling and serving use (``sigctl.training.noise``).
The networks (``new_generator``, ``new_discriminator``) and the losses (``build_losses``) are
methods, so a variant recipe swaps one of them and keeps the rest.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sigctl.core.generator import ScaleGenerator
from sigctl.core.models.singan import SinGANModel, upsample
from sigctl.training import losses
from sigctl.training.discriminator import PatchDiscriminator
from sigctl.training.noise import TrainingNoise
from sigctl.training.recipes.base import Recipe, TrainingContext
from sigctl.training.recipes.stage_state import gan_stage_state, load_gan_recipe_state, restore_gan_stage_state


class SinGANRecipe(Recipe):
    def __init__(self, context: TrainingContext):
        super().__init__(context)
        self.adversarial_loss, self.reconstruction_loss = self.build_losses()
        self.stage_in_progress: int | None = None
        self.previous_discriminator: dict[str, torch.Tensor] | None = None

    # -- what the recipe is made of ---------------------------------------------------------------

    @classmethod
    def untrained_model(cls, settings, layout) -> SinGANModel:
        amplitudes = [1.0] + [settings.loss.noise_amplitude_scale] * (layout.num_scales - 1)
        return SinGANModel.with_scales(layout, settings.network, amplitudes, settings.super_resolution_factor)

    def build_model(self) -> SinGANModel:
        settings = self.settings
        return SinGANModel(self.context.layout, settings.network, settings.super_resolution_factor).to(self.context.device)

    def build_losses(self) -> tuple[losses.WGANGP, losses.ReconstructionMSE]:
        loss = self.settings.loss
        return losses.WGANGP(loss.gradient_penalty_weight), losses.ReconstructionMSE(loss.reconstruction_weight)

    def new_generator(self, stage: int) -> nn.Module:
        return ScaleGenerator(self.settings.network.channels_at(stage), self.settings.network)

    def new_discriminator(self, stage: int) -> nn.Module:
        return PatchDiscriminator(self.settings.network.channels_at(stage), self.settings.network)

    def num_stages(self) -> int:
        return self.model.layout.num_scales

    def iterations(self, stage: int) -> int:
        return self.settings.optimizer.iterations_per_scale

    # -- a stage --------------------------------------------------------------------------------------

    def begin_stage(self, stage: int) -> None:
        self._enter_stage(stage)
        if stage == 0:
            # z*: the fixed noise the reconstruction is anchored on; one channel, as all coarsest noise.
            self.model.reconstruction_noise.copy_(self.noise.at(self.noise.next_seed(), 0, tuple(self.real.shape[-2:])))
            self.reconstruction_entering = torch.zeros_like(self.real)
            self.noise_amplitude = 1.0
        else:
            self.reconstruction_entering = upsample(self.model.reconstruct(), tuple(self.real.shape[-2:]))
            rmse = torch.sqrt(losses.reconstruction_loss(self.reconstruction_entering, self.real)).item()
            self.noise_amplitude = self.settings.loss.noise_amplitude_scale * rmse
        # z_rec = {z*, 0, ..., 0}
        self.reconstruction_noise = self.model.reconstruction_noise if stage == 0 else torch.zeros_like(self.real)
        self._build_networks(stage)

    def _enter_stage(self, stage: int) -> None:
        self.stage_in_progress = self.scale = stage
        self.real = self.context.reals[stage]
        self.noise = TrainingNoise(self.settings.seed, stage, self.context.device)

    def _build_networks(self, stage: int) -> None:
        """G and D (warm-started where the reference does), their Adams and lr schedules; draws torch's stream."""
        settings, device = self.settings, self.context.device
        self.generator = self.new_generator(stage).to(device)
        self.discriminator = self.new_discriminator(stage).to(device)
        if settings.init_from_previous_scale and stage > 0 and settings.network.channels_at(stage) == settings.network.channels_at(stage - 1):
            self.generator.load_state_dict(self.model.generators[stage - 1].state_dict())
            self.discriminator.load_state_dict(self.previous_discriminator)

        opt = settings.optimizer
        self.generator_optimizer = torch.optim.Adam(self.generator.parameters(), lr=opt.generator_lr, betas=opt.betas)
        self.discriminator_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=opt.discriminator_lr, betas=opt.betas)
        milestone = [max(1, int(opt.iterations_per_scale * opt.lr_decay_at))]
        self.schedulers = [
            torch.optim.lr_scheduler.MultiStepLR(optimizer, milestone, gamma=opt.lr_decay_factor)
            for optimizer in (self.generator_optimizer, self.discriminator_optimizer)
        ]

    def step(self, iteration: int) -> dict[str, torch.Tensor]:
        opt = self.settings.optimizer
        for _ in range(opt.discriminator_steps):
            d_losses = self.discriminator_step()
        for _ in range(opt.generator_steps):
            g_losses = self.generator_step()
        for scheduler in self.schedulers:
            scheduler.step()
        return {**d_losses, **g_losses}

    def discriminator_step(self) -> dict[str, torch.Tensor]:
        """One WGAN-GP update of D on a fresh fake (no gradient into G)."""
        with torch.no_grad():
            fake = self.fake()
        d_loss, logged = self.adversarial_loss.discriminator_loss(self.discriminator, self.real, fake)
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.discriminator_optimizer.step()
        return logged

    def generator_step(self) -> dict[str, torch.Tensor]:
        """One update of G: adversarial loss on a *fresh* fake with gradients, + alpha x reconstruction."""
        adversarial = self.adversarial_loss.generator_loss(self.discriminator, self.fake())
        reconstruction = self.reconstruction_loss(
            self.generator(self.reconstruction_noise * self.noise_amplitude, self.reconstruction_entering), self.real
        )
        g_loss = adversarial + self.reconstruction_loss.weight * reconstruction
        self.generator_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.generator_optimizer.step()
        return {"g": g_loss.detach(), "g_adv": adversarial.detach(), "rec": reconstruction.detach()}

    def end_stage(self) -> None:
        self.previous_discriminator = {k: v.detach().clone() for k, v in self.discriminator.state_dict().items()}
        self.model.append_scale(self.generator, self.noise_amplitude)
        self.stage_in_progress = None

    def fake(self) -> torch.Tensor:
        """A random sample at the current scale from a new noise draw: fresh noise at every scale, frozen ones included."""
        pyramid, sizes = self.model, self.model.layout.sizes
        noises = self.noise.sample_noises(list(sizes[: self.scale + 1]))
        entering = torch.zeros_like(self.context.reals[0])
        if self.scale > 0:
            with torch.no_grad():
                entering = upsample(pyramid.run(entering, noises[:-1]), sizes[self.scale])
        return self.generator(noises[-1] * self.noise_amplitude, entering)

    # -- resume ---------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"model": self.model.state_dict(), "stage_in_progress": self.stage_in_progress}
        if self.previous_discriminator is not None:
            state["previous_discriminator"] = self.previous_discriminator
        if self.stage_in_progress is not None:
            state["stage"] = {
                **gan_stage_state(self),
                "generator": self.generator.state_dict(),
                "noise_amplitude": self.noise_amplitude,
                "reconstruction_entering": self.reconstruction_entering,
            }
            if self.scale > 0:  # at stage 0 z_rec is z*, the model's own buffer, saved with the model
                state["stage"]["reconstruction_noise"] = self.reconstruction_noise
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        amplitudes = state["model"]["noise_amplitudes"].tolist()
        model = SinGANModel.with_scales(self.context.layout, self.settings.network, amplitudes, self.settings.super_resolution_factor)
        load_gan_recipe_state(self, model, state)

    def resume_stage(self, stage: int, saved: dict[str, Any]) -> None:
        if stage != self.model.num_trained:
            raise ValueError(f"the state is inside stage {stage} but its model has {self.model.num_trained} trained stages")
        device = self.context.device
        self._enter_stage(stage)
        self.noise_amplitude = saved["noise_amplitude"]
        self.reconstruction_entering = saved["reconstruction_entering"].to(device)
        self.reconstruction_noise = self.model.reconstruction_noise if stage == 0 else saved["reconstruction_noise"].to(device)
        self._build_networks(stage)
        self.generator.load_state_dict(saved["generator"])
        restore_gan_stage_state(self, saved)
