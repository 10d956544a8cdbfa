"""The prior data of PetsGAN's generator phase when no external prior is given (the paper's
ablation setting): the low-resolution training image, its mirror, and thin-plate-spline warps of
both, as the code mixes them into its prior data.

A warp moves a 3 x 3 grid of control points by Gaussian shifts and bends the image through the
thin-plate spline that interpolates them (U(r) = r^2 log r^2 plus an affine part), sampling with
reflection at the borders. Drawn from torch's generator, which the loop seeds per phase.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CONTROL_GRID = 3  # control points per side


def _kernel(squared_distances: torch.Tensor) -> torch.Tensor:
    return squared_distances * torch.log(squared_distances.clamp_min(1e-12))


def tps_grid(control: torch.Tensor, target: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """1 x H x W x 2 sampling grid (x, y in [-1, 1]) of the thin-plate spline sending each control point to its target."""
    n = control.shape[0]
    system = torch.zeros(n + 3, n + 3, dtype=control.dtype)
    affine = torch.cat([torch.ones(n, 1, dtype=control.dtype), control], dim=1)
    system[:n, :n] = _kernel(((control[:, None] - control[None]) ** 2).sum(-1))
    system[:n, n:], system[n:, :n] = affine, affine.t()
    right = torch.zeros(n + 3, 2, dtype=control.dtype)
    right[:n] = target
    parameters = torch.linalg.solve(system, right)
    ys, xs = torch.linspace(-1, 1, height, dtype=control.dtype), torch.linspace(-1, 1, width, dtype=control.dtype)
    points = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)  # (x, y), row-major
    warped = _kernel(((points[:, None] - control[None]) ** 2).sum(-1)) @ parameters[:n]
    warped = warped + torch.cat([torch.ones(len(points), 1, dtype=control.dtype), points], dim=1) @ parameters[n:]
    return warped.reshape(1, height, width, 2)


def tps_warp(image: torch.Tensor, strength: float) -> torch.Tensor:
    """``image`` (1 x 3 x H x W) bent by a random thin-plate spline whose control points move by N(0, strength)."""
    line = torch.linspace(-1, 1, CONTROL_GRID, dtype=torch.float64)
    control = torch.stack(torch.meshgrid(line, line, indexing="xy"), dim=-1).reshape(-1, 2)
    target = control + strength * torch.randn(control.shape, dtype=torch.float64)
    grid = tps_grid(control, target, image.shape[2], image.shape[3]).to(image.dtype).to(image.device)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=True)


def internal_prior(low: torch.Tensor, warps: int, strength: float) -> torch.Tensor:
    """(2 + 2 x warps) x 3 x h x w: the image, its mirror, then ``warps`` warps of each."""
    images = [low, low.flip(3)]
    images += [tps_warp(base, strength) for _ in range(warps) for base in (low, low.flip(3))]
    return torch.cat(images)
