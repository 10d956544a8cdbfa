"""Losses as objects (stylegan3's ``Loss`` pattern), so a recipe swaps a loss without copying its step.

A loss object runs the networks it scores and returns tensors; it never reads a value back from
the device (the loop does that once per log window). The plain functions below are the math,
pinned in closed form by the tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


def gradient_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """(||grad D(x_hat)|| - 1)^2 at random interpolates, the norm taken per pixel over channels.

    The per-pixel norm follows the reference implementation (a patch discriminator has one
    Lipschitz constraint per output location, not one for the whole image).
    """
    mix = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    interpolates = (mix * real + (1 - mix) * fake).requires_grad_(True)
    scores = discriminator(interpolates)
    (gradients,) = torch.autograd.grad(scores.float().sum(), interpolates, create_graph=True)
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean()


@contextmanager
def parameters_frozen(module: nn.Module) -> Iterator[None]:
    """Run ``module`` without recording gradients for its parameters (each one's flag is restored after).

    G's loss scores a fake with D; autograd would otherwise also compute D's weight gradients in
    G's backward, which the next D step discards (it zeroes them first): a whole backward pass of
    D's weights per G step, thrown away. The gradient reaching the fake is the same either way.
    """
    flags = [(parameter, parameter.requires_grad) for parameter in module.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


# Scores are averaged in float32: under bf16 autocast a critic's map comes out in bf16, and a mean of
# thousands of patches in 8 significant bits would round the loss itself (a no-op in fp32).


def discriminator_wgan_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return fake_scores.float().mean() - real_scores.float().mean()


def generator_wgan_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.float().mean()


def reconstruction_loss(reconstruction: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(reconstruction, real)


def collapse_penalty(fake_scores: torch.Tensor) -> torch.Tensor:
    """PetsGAN's collapse penalty (paper eq. 6): -E|D(G(z1)) - D(G(z2))|, a reward for fakes the
    critic tells apart. Sample i is paired with sample i + B/2 (the code pairs only samples 0 and 1:
    the same for a batch of 2); 0 for a batch of one."""
    half = len(fake_scores) // 2
    if half == 0:
        return fake_scores.float().sum() * 0.0  # keeps the graph, adds nothing
    return -(fake_scores[:half].float() - fake_scores[half : 2 * half].float()).abs().mean()


class WGANGP:
    """The Wasserstein loss with gradient penalty, both sides of it (SinGAN's adversarial loss)."""

    def __init__(self, gradient_penalty_weight: float):
        self.gradient_penalty_weight = gradient_penalty_weight

    def discriminator_loss(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss to minimise, and the named terms to log ("d" the total, "gp" the raw penalty).

        Scored in the order real, fake, interpolates: a BatchNorm discriminator in training mode
        updates its running statistics on every call, so the order is part of the result.
        """
        real_scores = discriminator(real)
        fake_scores = discriminator(fake)
        penalty = gradient_penalty(discriminator, real, fake)
        loss = discriminator_wgan_loss(real_scores, fake_scores) + self.gradient_penalty_weight * penalty
        return loss, {"d": loss.detach(), "gp": penalty.detach()}

    def generator_loss(self, discriminator: nn.Module, fake: torch.Tensor) -> torch.Tensor:
        """G's adversarial loss on ``fake`` (which must carry gradients into G); D's weights get no gradient."""
        with parameters_frozen(discriminator):
            return generator_wgan_loss(discriminator(fake))


class ReconstructionMSE:
    """alpha x MSE between the reconstruction and the real image (alpha: the settings' weight)."""

    def __init__(self, weight: float):
        self.weight = weight

    def __call__(self, reconstruction: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The unweighted MSE; the caller adds ``weight x`` it to G's loss (and logs it raw)."""
        return reconstruction_loss(reconstruction, real)


def discriminator_hinge_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real_scores.float()).mean() + F.relu(1 + fake_scores.float()).mean()


class Hinge:
    """The hinge loss without any gradient penalty (PetsGAN's joint phase): D minimises
    mean(relu(1 - D(real))) + mean(relu(1 + D(fake))); G minimises -mean(D(fake))."""

    def discriminator_loss(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = discriminator_hinge_loss(discriminator(real), discriminator(fake))
        return loss, {"d": loss.detach()}

    def generator_loss(self, discriminator: nn.Module, fake: torch.Tensor) -> torch.Tensor:
        """G's loss on ``fake``; D's weights get no gradient (as in ``WGANGP.generator_loss``)."""
        with parameters_frozen(discriminator):
            return generator_wgan_loss(discriminator(fake))
