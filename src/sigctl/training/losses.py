"""WGAN-GP and reconstruction losses as SinGAN uses them."""

from __future__ import annotations

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
    (gradients,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean()


def discriminator_wgan_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return fake_scores.mean() - real_scores.mean()


def generator_wgan_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


def reconstruction_loss(reconstruction: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(reconstruction, real)
