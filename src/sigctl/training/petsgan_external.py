"""PetsGAN's external prior: the training image inverted into a pretrained generator, then jittered.

As the code does it (BigGAN/inversion.py, RunJitter.py, main.py ``_prepare_data``):

1. selection: ``select_draws`` latents from N(0, ``select_std``^2), scored by the inversion loss, the
   best kept (gradient-free: the only step an ONNX generator gets);
2. inversion: Adam on that latent in three stages (``inversion_iterations`` at ``inversion_lrs``),
   loss = MSE(G(z), image) + ``likelihood_weight`` x mean(z^2 / 2); the best latent seen is kept;
3. jitter: ``jitters_per_std`` draws G(z* + std x eps), eps ~ N(0, I), for each of ``jitter_stds``;
4. the prior data: the jitters resized to the low-resolution size and their mirrors, thin-plate
   warps of the image (and of its mirror) making ``warp_share`` of jitters + warps, and
   ``image_copies`` copies of the image and of its mirror.

Departures (the user's generator comes without the code's BigGAN): no discriminator-feature term in
the inversion loss (the code's lambda_D needs BigGAN's discriminator), and the generator's weights
stay fixed (the code also fine-tunes BigGAN, DGP-style). The target is the training image resized
to the generator's size (aspect not kept; the code centre-crops to 128 px).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from sigctl.config.petsgan import PetsGANExternalPriorSettings
from sigctl.core.external_generator import ExternalGenerator
from sigctl.training.petsgan_prior import tps_warp

logger = logging.getLogger(__name__)


def resized(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear, antialiased when shrinking: how a jitter or the target changes size."""
    if images.shape[2:] == (height, width):
        return images
    return F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False, antialias=True)


def inversion_loss(generator: ExternalGenerator, latents: torch.Tensor, target: torch.Tensor, likelihood_weight: float) -> torch.Tensor:
    """Per latent: MSE(G(z), target) + likelihood_weight x mean(z^2 / 2) (the code's lambda_MSE 1 and lambda_LK)."""
    images = generator.generate(latents)
    latents = latents.to(images.device)
    return (images - target).pow(2).mean(dim=(1, 2, 3)) + likelihood_weight * (latents.pow(2) / 2).mean(dim=1)


def select_latent(generator: ExternalGenerator, target: torch.Tensor, settings: PetsGANExternalPriorSettings, rng: torch.Generator) -> torch.Tensor:
    """1 x D: the best of ``select_draws`` random latents by the inversion loss."""
    best, best_loss = None, float("inf")
    remaining = settings.select_draws
    with torch.no_grad():
        while remaining:
            count = min(remaining, settings.generator_batch)
            latents = settings.select_std * torch.randn(count, generator.shape.latent_dim, generator=rng)
            losses = inversion_loss(generator, latents, target, settings.likelihood_weight)
            index = int(losses.argmin())
            if losses[index].item() < best_loss:
                best, best_loss = latents[index : index + 1].clone(), losses[index].item()
            remaining -= count
    return best


def invert(generator: ExternalGenerator, image: torch.Tensor, settings: PetsGANExternalPriorSettings, rng: torch.Generator) -> torch.Tensor:
    """1 x D latent z* whose image is nearest ``image`` (1 x 3 x h x w in [-1, 1]) by the inversion loss."""
    target = resized(image.to(generator.device), generator.shape.height, generator.shape.width)
    latent = select_latent(generator, target, settings, rng)
    if not generator.differentiable:
        return latent
    best, best_loss = latent.clone(), None
    variable = latent.clone().to(generator.device).requires_grad_(True)
    optimizer = torch.optim.Adam([variable], lr=settings.inversion_lrs[0], betas=(0.9, 0.999))  # the code's betas
    for iterations, lr in zip(settings.inversion_iterations, settings.inversion_lrs, strict=True):
        for group in optimizer.param_groups:
            group["lr"] = lr
        for _ in range(iterations):
            loss = inversion_loss(generator, variable, target, settings.likelihood_weight)[0]
            if best_loss is None or loss.item() < best_loss:  # the latent this loss belongs to, before the step moves it
                best, best_loss = variable.detach().cpu().clone(), loss.item()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    logger.info("external prior: inversion loss %.4g after %d steps", best_loss if best_loss is not None else float("nan"), sum(settings.inversion_iterations))
    return best


def jitter_latents(latent: torch.Tensor, stds: tuple[float, ...], per_std: int, rng: torch.Generator) -> torch.Tensor:
    """(len(stds) x per_std) x D: z* + std x eps, eps ~ N(0, I) drawn from ``rng``, std by std."""
    return torch.cat([latent + std * torch.randn(per_std, latent.shape[1], generator=rng) for std in stds])


def jitters(generator: ExternalGenerator, latent: torch.Tensor, settings: PetsGANExternalPriorSettings, rng: torch.Generator, size: tuple[int, int] | None = None) -> torch.Tensor:
    """The jitter images G(z* + std x eps), at the generator's size or resized to ``size`` batch by
    batch (only ``generator_batch`` images at the generator's size are ever held)."""
    latents = jitter_latents(latent, settings.jitter_stds, settings.jitters_per_std, rng)
    height, width = size or (generator.shape.height, generator.shape.width)
    batch = settings.generator_batch
    with torch.no_grad():
        return torch.cat([resized(generator.generate(latents[start : start + batch]), height, width) for start in range(0, len(latents), batch)])


def warp_count(jitter_images: int, share: float) -> int:
    """Warps making ``share`` of jitters + warps: the code's int(mix_ratio / (1 - mix_ratio) x jitters)."""
    return int(share / (1 - share) * jitter_images)


def external_prior(low: torch.Tensor, full: torch.Tensor, generator: ExternalGenerator, settings: PetsGANExternalPriorSettings, warp_strength: float, seed: int) -> torch.Tensor:
    """The generator phase's prior data with the external prior (the order: jitters, their mirrors, warps, copies).

    ``low``: the low-resolution image; ``full``: the training image (the inversion's target).
    Latent draws come from a generator seeded by ``seed``; the warps from torch's (as the internal prior's).
    """
    rng = torch.Generator().manual_seed(seed)
    latent = invert(generator, full, settings, rng)
    images = jitters(generator, latent, settings, rng, size=tuple(low.shape[2:])).to(low.device)
    images = torch.cat([images, images.flip(3)])
    bases = (low, low.flip(3))
    warps = [tps_warp(bases[index % 2], warp_strength) for index in range(warp_count(len(images), settings.warp_share))]
    copies = [base.expand(settings.image_copies, -1, -1, -1) for base in bases]
    logger.info("external prior: %d jitters and mirrors, %d warps, 2 x %d copies of the image", len(images), len(warps), settings.image_copies)
    return torch.cat([images, *warps, *copies]).contiguous()
