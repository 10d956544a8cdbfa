"""PetsGAN (seed 000, zhangzc21/PetsGAN): three phases, in its code's order, as the loop's stages.

- phase 0, ``generator``: the prior generator at the low-resolution size against a global critic on
  the prior data (the image, its mirror and their thin-plate-spline warps: ``petsgan_prior``; with
  ``external_prior.generator``, also jitters of the image's inversion into that generator:
  ``petsgan_external``), WGAN-GP (weight 10) + 50 x MSE(G(z_rec), low-resolution real) + the
  collapse penalty -|D(G(z1)) - D(G(z2))| (paper eq. 6; the code's weight 1); z_rec is fixed unit
  noise stored in the model (the reconstruction path's input);
- phase 1, ``restoration``: the internal prior alone: patch transfer of the noised low-resolution
  image (randomly mirrored) against the reference patches, then the restoration network, L1 to the
  full image (mirrored alike);
- phase 2, ``joint``: generator -> differentiable patch transfer -> restoration against one
  multi-scale discriminator, hinge loss with NO gradient penalty, + 100 x the restoration L1 of
  phase 1 (both networks train).
- phase 3, ``upsampler`` (when ``optimizer.upsampler_iterations`` > 0): the learned x2 upsampler
  of high-resolution requests alone, L1 between it on half-size crops and the crops
  (``petsgan_upsampler``: the source above the training size where there is one, else the training
  image itself), as the paper trains its 4x DIPNet by reconstruction loss only.

Every phase keeps its own networks, Adams, lr schedules (x0.1 at 80 %), noise draws and torch's
random state in ``state_dict``, so a run resumes bit-identically inside any phase. All noise is the
hash noise sampling and serving use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sigctl.config import PetsGANSettings
from sigctl.core.external_generator import ExternalGenerator
from sigctl.core.model import NoiseSpec
from sigctl.core.models.petsgan import PetsGANConfig, PetsGANModel
from sigctl.core.models.petsgan_networks import GlobalDiscriminator, MultiScaleDiscriminator, reference_patches
from sigctl.core.scales import PyramidLayout
from sigctl.core.stages import unit_noise
from sigctl.errors import RunStateError
from sigctl.training import losses
from sigctl.training.noise import TrainingNoise, training_noise_seed
from sigctl.training.petsgan_external import external_prior
from sigctl.training.petsgan_prior import internal_prior
from sigctl.training.petsgan_upsampler import random_pairs, upsampler_levels
from sigctl.training.recipes.base import Recipe, TrainingContext
from sigctl.training.rng import restore_rng_state, rng_state

PHASES = ("generator", "restoration", "joint", "upsampler")  # the last only with optimizer.upsampler_iterations > 0
RECONSTRUCTION_STREAM = 1_000_000  # the training-noise "stage" z_rec is drawn from: one no run reaches
EXTERNAL_PRIOR_STREAM = 1_000_001  # the stream of the external prior's latent draws
_NOISE = NoiseSpec(1)


class PetsGANRecipe(Recipe):
    def __init__(self, context: TrainingContext):
        super().__init__(context)
        self.phase: int | None = None
        self.prior: torch.Tensor | None = None  # the generator phase's prior data
        self.upsampler_levels = None  # the upsampler phase's (input, target) images
        self.prior_gan = losses.WGANGP(self.settings.loss.prior_gradient_penalty_weight)
        self.hinge = losses.Hinge()

    @classmethod
    def model_config(cls, settings: PetsGANSettings, layout: PyramidLayout) -> PetsGANConfig:
        values = settings.network.model_dump(exclude={"discriminator_channels"})
        if settings.optimizer.upsampler_iterations == 0:
            values["upsampler_channels"] = 0  # no upsampler: the model (and its artifact) as before the phase existed
        return PetsGANConfig(sizes=list(layout.sizes), **values)

    @classmethod
    def untrained_model(cls, settings: PetsGANSettings, layout: PyramidLayout) -> PetsGANModel:
        return PetsGANModel(cls.model_config(settings, layout))

    def build_model(self) -> PetsGANModel:
        model = PetsGANModel(self.model_config(self.settings, self.context.layout))
        model.reference.copy_(reference_patches(self.low_real, self.settings.network.patch_size))
        seed = training_noise_seed(self.settings.seed, RECONSTRUCTION_STREAM, 0)
        model.reconstruction_noise.copy_(torch.from_numpy(unit_noise(_NOISE, seed, 0, *self.context.layout.sizes[0]))[None])
        return model.to(self.context.device)

    @property
    def low_real(self) -> torch.Tensor:
        return self.context.reals[0]

    @property
    def real(self) -> torch.Tensor:
        return self.context.reals[-1]

    def num_stages(self) -> int:
        return len(PHASES) if self.settings.optimizer.upsampler_iterations else len(PHASES) - 1

    def iterations(self, stage: int) -> int:
        opt = self.settings.optimizer
        return opt.upsampler_iterations if PHASES[stage] == "upsampler" else opt.iterations_per_phase

    # -- a phase --------------------------------------------------------------------------------------

    def begin_stage(self, stage: int) -> None:
        if stage == 0:
            self.model = self.build_model()  # after the loop seeded torch: the init is a function of the seed
        self._build_phase(stage)
        if stage == 0:
            self.prior = self.prior_data()

    def prior_data(self) -> torch.Tensor:
        """The generator phase's prior data: the internal prior, or the external one when a generator is named."""
        loss, external = self.settings.loss, self.settings.external_prior
        if external.generator is None:
            return internal_prior(self.low_real, loss.prior_warps, loss.warp_strength)
        external.check_generator()  # the file the run was started with, unchanged
        generator = ExternalGenerator(external.generator, self.context.device)
        seed = training_noise_seed(self.settings.seed, EXTERNAL_PRIOR_STREAM, 0)
        return external_prior(self.low_real, self.real, generator, external, loss.warp_strength, seed)

    def _build_phase(self, stage: int) -> None:
        """The phase's critic (none in the restoration and upsampler phases), Adams over what it trains, lr schedules."""
        opt, network, device = self.settings.optimizer, self.settings.network, self.context.device
        self.phase = stage
        self.noise = TrainingNoise(self.settings.seed, stage, device)
        self.discriminator = None
        if PHASES[stage] == "generator":
            self.discriminator = GlobalDiscriminator(network.discriminator_channels, self.context.layout.sizes[0]).to(device)
        elif PHASES[stage] == "joint":
            self.discriminator = MultiScaleDiscriminator(network.discriminator_channels).to(device)
        elif PHASES[stage] == "upsampler":
            detail = self.context.high_resolution if self.context.high_resolution is not None else self.real
            self.upsampler_levels = upsampler_levels(detail, self.context.layout.finest_size, device)
        trained = {
            "generator": [self.model.generator], "restoration": [self.model.restoration],
            "joint": [self.model.generator, self.model.restoration], "upsampler": [self.model.upsampler],
        }[PHASES[stage]]
        self.model.requires_grad_(False)
        for module in trained:
            module.requires_grad_(True)
        self.optimizers = [torch.optim.Adam([p for m in trained for p in m.parameters()], lr=opt.generator_lr, betas=opt.betas)]
        if self.discriminator is not None:
            self.optimizers.append(torch.optim.Adam(self.discriminator.parameters(), lr=opt.discriminator_lr, betas=opt.betas))
        milestone = [max(1, int(self.iterations(stage) * opt.lr_decay_at))]
        self.schedulers = [torch.optim.lr_scheduler.MultiStepLR(o, milestone, gamma=opt.lr_decay_factor) for o in self.optimizers]

    def draw_noise(self) -> torch.Tensor:
        """batch_size x 1 x h x w unit noise at the low-resolution size, one training draw per sample."""
        size = self.context.layout.sizes[0]
        draws = [unit_noise(_NOISE, self.noise.next_seed(), 0, *size) for _ in range(self.settings.optimizer.batch_size)]
        return torch.from_numpy(np.stack(draws)).to(self.context.device)

    def step(self, iteration: int) -> dict[str, torch.Tensor]:
        steps = {"generator": self._generator_step, "restoration": self._restoration_step, "joint": self._joint_step, "upsampler": self._upsampler_step}
        logged = steps[PHASES[self.phase]]()
        for scheduler in self.schedulers:
            scheduler.step()
        return logged

    def _update(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def _gan_steps(self, adversarial, real: torch.Tensor, fake_of, generator_extra) -> dict[str, torch.Tensor]:
        """D steps on detached fakes, then G steps: adversarial G loss + the phase's extra term."""
        opt = self.settings.optimizer
        noise = self.draw_noise()
        for _ in range(opt.discriminator_steps):
            with torch.no_grad():
                fake = fake_of(noise)
            d_loss, logged = adversarial.discriminator_loss(self.discriminator, real, fake)
            self._update(self.optimizers[1], d_loss)
        for _ in range(opt.generator_steps):
            fake = fake_of(noise)
            adversarial_g = adversarial.generator_loss(self.discriminator, fake)
            extras = generator_extra(fake)  # named terms, already weighted
            g_loss = adversarial_g + sum(extras.values())
            self._update(self.optimizers[0], g_loss)
        return {**logged, "g": g_loss.detach(), "g_adv": adversarial_g.detach(), **{name: value.detach() for name, value in extras.items()}}

    def _generator_step(self) -> dict[str, torch.Tensor]:
        picks = torch.randint(len(self.prior), (self.settings.optimizer.batch_size,), device=self.prior.device)
        loss = self.settings.loss

        def reconstruction_and_collapse(fake: torch.Tensor) -> dict[str, torch.Tensor]:
            reconstruction = losses.reconstruction_loss(self.model.generator(self.model.reconstruction_noise), self.low_real)
            with losses.parameters_frozen(self.discriminator):
                collapse = losses.collapse_penalty(self.discriminator(fake))
            return {"rec": loss.prior_reconstruction_weight * reconstruction, "collapse": loss.collapse_penalty_weight * collapse}

        return self._gan_steps(self.prior_gan, self.prior[picks], self.model.generator, reconstruction_and_collapse)

    def restoration_loss(self) -> torch.Tensor:
        """L1 between the restored, patch-transferred noised low-resolution image and the full image (mirrored at random alike)."""
        batch, sigma = self.settings.optimizer.batch_size, self.settings.loss.restoration_input_noise
        mirror = torch.rand(batch, device=self.low_real.device) < 0.5
        low = torch.where(mirror[:, None, None, None], self.low_real.flip(3), self.low_real)
        full = torch.where(mirror[:, None, None, None], self.real.flip(3), self.real)
        restored = self.model.restoration(self.model.transfer(low + sigma * torch.randn_like(low)))
        return F.l1_loss(restored, full)

    def _restoration_step(self) -> dict[str, torch.Tensor]:
        loss = self.restoration_loss()
        self._update(self.optimizers[0], loss)
        return {"restoration": loss.detach()}

    def _joint_step(self) -> dict[str, torch.Tensor]:
        weight = self.settings.loss.restoration_weight

        def fake_of(noise: torch.Tensor) -> torch.Tensor:
            return self.model.synthesize(noise, differentiable=True)[1]

        return self._gan_steps(self.hinge, self.real, fake_of, lambda fake: {"restoration": weight * self.restoration_loss()})

    def _upsampler_step(self) -> dict[str, torch.Tensor]:
        """L1 between the upsampled half-size crops and the crops: the paper's reconstruction loss alone."""
        low, target = random_pairs(self.upsampler_levels, self.settings.optimizer.batch_size, self.settings.size.upsampler_crop)
        loss = F.l1_loss(self.model.upsampler(low), target)
        self._update(self.optimizers[0], loss)
        return {"upsampler": loss.detach()}

    def end_stage(self) -> None:
        self.model.requires_grad_(False)
        self.phase, self.discriminator, self.optimizers, self.schedulers, self.prior = None, None, [], [], None
        self.upsampler_levels = None

    # -- resume ---------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"model": self.model.state_dict(), "stage_in_progress": self.phase}
        if self.phase is not None:
            state["stage"] = {
                "discriminator": None if self.discriminator is None else self.discriminator.state_dict(),
                "optimizers": [optimizer.state_dict() for optimizer in self.optimizers],
                "schedulers": [scheduler.state_dict() for scheduler in self.schedulers],
                "noise_draws": self.noise.draws,
                "prior": self.prior,
                "rng": rng_state(self.context.device),
            }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        model = PetsGANModel(self.model_config(self.settings, self.context.layout))
        if model.upsampler is not None and not any(key.startswith("upsampler.") for key in state["model"]):
            raise RunStateError(
                "this run was started before PetsGAN's upsampler phase existed (its checkpoint has no upsampler): set "
                "optimizer.upsampler_iterations to 0 in its settings.json to resume it without one, or start a new run"
            )
        model.load_state_dict(state["model"], strict=True)
        self.model = model.to(self.context.device)
        self.phase = None
        if state["stage_in_progress"] is None:
            return
        saved = state["stage"]
        self._build_phase(int(state["stage_in_progress"]))
        if self.discriminator is not None:
            self.discriminator.load_state_dict(saved["discriminator"])
        for optimizer, optimizer_state in zip(self.optimizers, saved["optimizers"], strict=True):
            optimizer.load_state_dict(optimizer_state)
        for scheduler, scheduler_state in zip(self.schedulers, saved["schedulers"], strict=True):
            scheduler.load_state_dict(scheduler_state)
        self.noise.draws = saved["noise_draws"]
        if saved.get("prior") is not None:
            self.prior = saved["prior"].to(self.context.device)
        restore_rng_state(saved["rng"], self.context.device)  # last: building the networks drew from it
