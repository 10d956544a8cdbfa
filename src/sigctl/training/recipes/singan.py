"""SinGAN (seeds 001/002): scales trained one at a time, coarse to fine, each frozen when done.

Per iteration: D steps on fresh fakes with WGAN-GP, then G steps on a *fresh* fake (the reference
code reused the last D-step fake, the bug seed 003 reports), adversarial + alpha x reconstruction.
All noise, z* included, is the hash noise sampling and serving use (``sigctl.training.noise``).
"""

from __future__ import annotations

import torch

from sigctl.core.models.singan import upsample
from sigctl.core.generator import ScaleGenerator
from sigctl.training import losses
from sigctl.training.discriminator import PatchDiscriminator
from sigctl.training.noise import TrainingNoise
from sigctl.training.recipes.base import Recipe


class SinGANRecipe(Recipe):
    def num_stages(self) -> int:
        return self.context.pyramid.layout.num_scales

    def iterations(self, stage: int) -> int:
        return self.settings.optimizer.iterations_per_scale

    def begin_stage(self, stage: int) -> None:
        context, settings = self.context, self.settings
        pyramid = context.pyramid
        self.scale = stage
        self.real = context.reals[stage]
        self.noise = TrainingNoise(settings.seed, stage, context.device)
        size = tuple(self.real.shape[-2:])
        channels = settings.network.channels_at(stage)

        if stage == 0:
            # z*: the fixed noise the reconstruction is anchored on; one channel, as all coarsest noise.
            pyramid.reconstruction_noise.copy_(self.noise.at(self.noise.next_seed(), 0, size))
            self.reconstruction_entering = torch.zeros_like(self.real)
            self.noise_amplitude = 1.0
        else:
            self.reconstruction_entering = upsample(pyramid.reconstruct(), size)
            rmse = torch.sqrt(losses.reconstruction_loss(self.reconstruction_entering, self.real)).item()
            self.noise_amplitude = settings.loss.noise_amplitude_scale * rmse
        # z_rec = {z*, 0, ..., 0}
        self.reconstruction_noise = pyramid.reconstruction_noise if stage == 0 else torch.zeros_like(self.real)

        self.generator = ScaleGenerator(channels, settings.network).to(context.device)
        self.discriminator = PatchDiscriminator(channels, settings.network).to(context.device)
        if settings.init_from_previous_scale and stage > 0 and channels == settings.network.channels_at(stage - 1):
            self.generator.load_state_dict(pyramid.generators[stage - 1].state_dict())
            self.discriminator.load_state_dict(self._previous_discriminator)

        opt = settings.optimizer
        self.generator_optimizer = torch.optim.Adam(self.generator.parameters(), lr=opt.generator_lr, betas=opt.betas)
        self.discriminator_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=opt.discriminator_lr, betas=opt.betas)
        milestone = [max(1, int(opt.iterations_per_scale * opt.lr_decay_at))]
        self.schedulers = [
            torch.optim.lr_scheduler.MultiStepLR(optimizer, milestone, gamma=opt.lr_decay_factor)
            for optimizer in (self.generator_optimizer, self.discriminator_optimizer)
        ]

    def step(self, iteration: int) -> dict[str, float]:
        opt = self.settings.optimizer
        for _ in range(opt.discriminator_steps):
            d_losses = self.discriminator_step()
        for _ in range(opt.generator_steps):
            g_losses = self.generator_step()
        for scheduler in self.schedulers:
            scheduler.step()
        return {**d_losses, **g_losses}

    def discriminator_step(self) -> dict[str, float]:
        """One WGAN-GP update of D on a fresh fake (no gradient into G)."""
        with torch.no_grad():
            fake = self.fake()
        real_scores = self.discriminator(self.real)
        fake_scores = self.discriminator(fake)
        penalty = losses.gradient_penalty(self.discriminator, self.real, fake)
        d_loss = losses.discriminator_wgan_loss(real_scores, fake_scores) + self.settings.loss.gradient_penalty_weight * penalty
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.discriminator_optimizer.step()
        return {"d": d_loss.item(), "gp": penalty.item()}

    def generator_step(self) -> dict[str, float]:
        """One update of G: adversarial loss on a *fresh* fake with gradients, + alpha x reconstruction."""
        adversarial = losses.generator_wgan_loss(self.discriminator(self.fake()))
        reconstruction = losses.reconstruction_loss(
            self.generator(self.reconstruction_noise * self.noise_amplitude, self.reconstruction_entering), self.real
        )
        g_loss = adversarial + self.settings.loss.reconstruction_weight * reconstruction
        self.generator_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.generator_optimizer.step()
        return {"g": g_loss.item(), "g_adv": adversarial.item(), "rec": reconstruction.item()}

    def end_stage(self) -> None:
        self._previous_discriminator = {k: v.detach().clone() for k, v in self.discriminator.state_dict().items()}
        self.context.pyramid.append_scale(self.generator, self.noise_amplitude)

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {f"discriminator.{k}": v for k, v in self._previous_discriminator.items()}

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        prefix = "discriminator."
        self._previous_discriminator = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    def fake(self) -> torch.Tensor:
        """A random sample at the current scale from a new noise draw: fresh noise at every scale, frozen ones included."""
        pyramid, sizes = self.context.pyramid, self.context.pyramid.layout.sizes
        noises = self.noise.sample_noises(list(sizes[: self.scale + 1]))
        entering = torch.zeros_like(self.context.reals[0])
        if self.scale > 0:
            with torch.no_grad():
                entering = upsample(pyramid.run(entering, noises[:-1]), sizes[self.scale])
        return self.generator(noises[-1] * self.noise_amplitude, entering)
