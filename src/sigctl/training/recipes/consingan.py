"""ConSinGAN (tohinz/ConSinGAN): one growing generator, the newest stages trained concurrently.

As its public code does it (DESIGN.md, "ConSinGAN, as its public code does it"):

- a new stage deep-copies the newest body block (warm start); the discriminator is re-made per
  stage and loaded from the previous stage's;
- the newest ``concurrent_stages`` blocks train, at lr x1, x lr_scale, x lr_scale^2 (newest to
  oldest); older blocks are frozen; the head trains while the stage index is below
  ``concurrent_stages``, at lr x lr_scale^stage; the tail always trains, at lr;
- amplitude: 1 at stage 0; at stage k, 0.1 x RMSE(G(z_rec) with amp_k = 0, real_k), computed once
  when the stage starts (after the warm start);
- reconstruction input: the coarsest real image at stage 0, fixed 64-channel noise above (hash
  noise from the model's ``reconstruction_seed``, so the served runtime makes the same);
- one noise draw per iteration; D steps on fakes of that draw (the last one kept with gradients),
  WGAN-GP with one uniform mix and a per-pixel gradient norm; the G loss -mean D(fake) +
  alpha x MSE(G(z_rec), real), one backward, then ``generator_steps`` optimiser steps on that one
  gradient (the reference's quirk, kept by default: ``generator_update: repeat_step``).

All noise is the hash noise sampling and serving use (``sigctl.core.stages.unit_noise``).
"""

from __future__ import annotations

from typing import Any

import torch

from sigctl.config import ConSinGANSettings
from sigctl.core.models.consingan import ConSinGANConfig, ConSinGANModel
from sigctl.core.models.consingan_networks import ConSinGANDiscriminator
from sigctl.core.scales import PyramidLayout
from sigctl.core.stages import unit_noise
from sigctl.training import losses
from sigctl.training.noise import TrainingNoise, training_noise_seed
from sigctl.training.recipes.base import Recipe, TrainingContext
from sigctl.training.recipes.stage_state import gan_stage_state, load_gan_recipe_state, restore_gan_stage_state

# The training-noise "stage" the reconstruction seed is drawn from: one no run reaches.
RECONSTRUCTION_STREAM = 1_000_000
# Fine-tuning for editing: the naive image enters stage 0 with this much unit noise added (the
# reference's editing mode); harmonization feeds it as it is (0).
EDITING_INPUT_NOISE = 0.1


class ConSinGANRecipe(Recipe):
    """ConSinGAN's training. A variant of it (seed 004's involution recipe) changes what it is made
    of, and nothing of how it trains: ``model_type`` (and the config values it adds), the
    discriminator, and the losses."""

    model_type: type[ConSinGANModel] = ConSinGANModel

    def __init__(self, context: TrainingContext):
        super().__init__(context)
        self.adversarial_loss, self.reconstruction_loss = self.build_losses()
        self.stage_in_progress: int | None = None
        self.previous_discriminator: dict[str, torch.Tensor] | None = None
        self.finetune_input: torch.Tensor | None = None
        self.finetune_input_noise = 0.0

    # -- what the recipe is made of ---------------------------------------------------------------

    @classmethod
    def config_values(cls, settings: ConSinGANSettings, layout: PyramidLayout) -> dict[str, Any]:
        """The model config's values these settings give (a variant adds its own)."""
        network = settings.network
        return dict(
            sizes=list(layout.sizes), stage_scales=list(layout.stage_scales), channels=network.channels,
            kernel_size=network.kernel_size, layers_per_block=network.layers_per_block, leaky_relu_slope=network.leaky_relu_slope,
            batch_norm=network.batch_norm, mode=network.mode,
            reconstruction_seed=training_noise_seed(settings.seed, RECONSTRUCTION_STREAM, 0),
        )

    @classmethod
    def model_config(cls, settings: ConSinGANSettings, layout: PyramidLayout) -> ConSinGANConfig:
        return cls.model_type.config_type(**cls.config_values(settings, layout))

    @classmethod
    def untrained_model(cls, settings: ConSinGANSettings, layout: PyramidLayout) -> ConSinGANModel:
        return cls.model_type(cls.model_config(settings, layout), layout.num_scales)

    def build_model(self, num_stages: int = 1) -> ConSinGANModel:
        model = self.model_type(self.model_config(self.settings, self.context.layout), num_stages)
        model.coarsest_real.copy_(self.context.reals[0])
        return model.to(self.context.device)

    def build_losses(self) -> tuple[losses.WGANGP, losses.ReconstructionMSE]:
        loss = self.settings.loss
        return losses.WGANGP(loss.gradient_penalty_weight), losses.ReconstructionMSE(loss.reconstruction_weight)

    def new_discriminator(self) -> ConSinGANDiscriminator:
        network = self.settings.network
        return ConSinGANDiscriminator(network.channels, network.kernel_size, network.discriminator_layers, network.leaky_relu_slope)

    def num_stages(self) -> int:
        return self.context.layout.num_scales

    def iterations(self, stage: int) -> int:
        return self.settings.optimizer.iterations_per_stage

    # -- a stage --------------------------------------------------------------------------------------

    def begin_stage(self, stage: int) -> None:
        if stage == 0:
            # Drawn here, after the loop seeded torch for stage 0, so the init is a function of the seed.
            self.model = self.build_model()
        else:
            self.model.grow(0.0)
        self._enter_stage(stage)
        if stage > 0:
            # With this stage's amplitude still 0: how far the warm-started reconstruction is from the real.
            with torch.no_grad():
                reconstruction = self.model.generator(self.reconstruction_noises, self.model.noise_amplitudes)
            rmse = torch.sqrt(losses.reconstruction_loss(reconstruction, self.real))
            self.model.noise_amplitudes[stage] = self.settings.loss.noise_amplitude_scale * rmse
        self._build_networks(stage)

    def _enter_stage(self, stage: int) -> None:
        self.stage_in_progress = stage
        self.real = self.context.reals[stage]
        self.noise = TrainingNoise(self.settings.seed, stage, self.context.device)
        self.reconstruction_noises = [self.context.reals[0]] + [self._stage_noise(self.model.config.reconstruction_seed, k) for k in range(1, stage + 1)]

    def _stage_noise(self, seed: int, stage: int) -> torch.Tensor:
        size = self.context.layout.sizes[stage]
        return torch.from_numpy(unit_noise(self.model.noise_spec(stage), seed, stage, *size))[None].to(self.context.device)

    def _build_networks(self, stage: int, iterations: int | None = None) -> None:
        """D (loaded from the previous stage's, or the finished model's when fine-tuning), G's
        learning-rate groups, both Adams and lr schedules (dropping at 80 % of ``iterations``)."""
        opt, device = self.settings.optimizer, self.context.device
        self.discriminator = self.new_discriminator().to(device)
        if (stage > 0 or self.finetune_input is not None) and self.previous_discriminator is not None:
            self.discriminator.load_state_dict(self.previous_discriminator)
        self.generator_optimizer = torch.optim.Adam(self.generator_parameter_groups(stage), lr=opt.generator_lr, betas=opt.betas)
        self.discriminator_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=opt.discriminator_lr, betas=opt.betas)
        milestone = [max(1, int((iterations or opt.iterations_per_stage) * opt.lr_decay_at))]
        self.schedulers = [
            torch.optim.lr_scheduler.MultiStepLR(optimizer, milestone, gamma=opt.lr_decay_factor)
            for optimizer in (self.generator_optimizer, self.discriminator_optimizer)
        ]

    def generator_parameter_groups(self, stage: int) -> list[dict[str, Any]]:
        """The reference's groups: the newest blocks at decreasing lr, the head while young, the tail always.

        Everything not in a group is frozen (no gradient is computed for it).
        """
        opt, generator = self.settings.optimizer, self.model.generator
        depth = opt.concurrent_stages
        generator.requires_grad_(False)
        active = list(generator.body[-depth:])
        groups = [{"params": list(block.parameters()), "lr": opt.generator_lr * opt.lr_scale ** (len(active) - 1 - index), "name": f"body.{stage - len(active) + 1 + index}"}
                  for index, block in enumerate(active)]
        if stage < depth:
            groups.append({"params": list(generator.head.parameters()), "lr": opt.generator_lr * opt.lr_scale**stage, "name": "head"})
        groups.append({"params": list(generator.tail.parameters()), "lr": opt.generator_lr, "name": "tail"})
        for group in groups:
            for parameter in group["params"]:
                parameter.requires_grad_(True)
        return groups

    def draw_noises(self) -> list[torch.Tensor]:
        """One new draw: unit noise for stages 0..current (or the naive image at stage 0 when fine-tuning)."""
        seed = self.noise.next_seed()
        noises = [self._stage_noise(seed, stage) for stage in range(self.stage_in_progress + 1)]
        if self.finetune_input is not None:
            noises[0] = self.finetune_input + self.finetune_input_noise * noises[0]
        return noises

    def fake(self, noises: list[torch.Tensor]) -> torch.Tensor:
        return self.model.generator(noises, self.model.noise_amplitudes)

    def step(self, iteration: int) -> dict[str, torch.Tensor]:
        opt = self.settings.optimizer
        noises = self.draw_noises()
        for index in range(opt.discriminator_steps):
            # The reference keeps the last D step's fake, with gradients, for the G step.
            if index == opt.discriminator_steps - 1:
                fake = self.fake(noises)
            else:
                with torch.no_grad():
                    fake = self.fake(noises)
            d_loss, d_logged = self.adversarial_loss.discriminator_loss(self.discriminator, self.real, fake.detach())
            self.discriminator_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            self.discriminator_optimizer.step()
        g_logged = self.generator_update(fake, noises)
        for scheduler in self.schedulers:
            scheduler.step()
        return {**d_logged, **g_logged}

    def generator_loss(self, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        adversarial = self.adversarial_loss.generator_loss(self.discriminator, fake)
        reconstruction = self.reconstruction_loss(self.fake(self.reconstruction_noises), self.real)
        g_loss = adversarial + self.reconstruction_loss.weight * reconstruction
        return g_loss, {"g": g_loss.detach(), "g_adv": adversarial.detach(), "rec": reconstruction.detach()}

    def generator_update(self, fake: torch.Tensor, noises: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        opt = self.settings.optimizer
        g_loss, logged = self.generator_loss(fake)
        self.generator_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.generator_optimizer.step()
        for _ in range(opt.generator_steps - 1):
            if opt.generator_update == "fresh_gradient":
                g_loss, logged = self.generator_loss(self.fake(noises))
                self.generator_optimizer.zero_grad(set_to_none=True)
                g_loss.backward()
            self.generator_optimizer.step()  # repeat_step: the same gradient again, as the reference does
        return logged

    def end_stage(self) -> None:
        self.previous_discriminator = {k: v.detach().clone() for k, v in self.discriminator.state_dict().items()}
        self.model.generator.requires_grad_(False)
        self.stage_in_progress = None
        self.finetune_input, self.finetune_input_noise = None, 0.0

    # -- fine-tuning (ConSinGAN's --fine_tune) -------------------------------------------------------

    def begin_finetune(self, naive_at_first_stage: torch.Tensor, iterations: int, input_noise: float = 0.0) -> None:
        """Train the finished model's newest stages ``iterations`` more iterations with
        ``naive_at_first_stage`` (1x3xh0xw0 in [-1, 1]) plus ``input_noise`` x unit noise entering
        stage 0 instead of noise; the reconstruction and its real image stay. The lr drops at 80 %
        of the fine-tuning iterations, as the reference's fine-tuning does."""
        stage = self.model.num_trained - 1
        self._enter_stage(stage)
        self.noise = TrainingNoise(self.settings.seed, RECONSTRUCTION_STREAM + 1, self.context.device)
        self.finetune_input = naive_at_first_stage.to(self.context.device)
        self.finetune_input_noise = input_noise
        self._build_networks(stage, iterations)

    # -- resume ---------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"model": self.model.state_dict(), "stage_in_progress": self.stage_in_progress}
        if self.previous_discriminator is not None:
            state["previous_discriminator"] = self.previous_discriminator
        if self.stage_in_progress is not None:
            state["stage"] = gan_stage_state(self)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        model = self.build_model(num_stages=len(state["model"]["noise_amplitudes"]))
        load_gan_recipe_state(self, model, state)

    def resume_stage(self, stage: int, saved: dict[str, Any]) -> None:
        if stage != self.model.num_trained - 1:
            raise ValueError(f"the state is inside stage {stage} but its model has {self.model.num_trained} stages")
        self._enter_stage(stage)
        self._build_networks(stage)
        restore_gan_stage_state(self, saved)
