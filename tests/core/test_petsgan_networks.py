"""PetsGAN's networks against computations made here: the patch transfer against a brute-force
nearest-patch search, the position encoding, the critic's dilated branches, the restoration's
factor, and the thin-plate-spline warps of the prior data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sigctl.core.models.petsgan_networks import (
    GlobalDiscriminator,
    MultiScaleDiscriminator,
    Restoration,
    image_patches,
    patch_transfer,
    position_encoding,
    reference_patches,
)
from sigctl.training.petsgan_prior import internal_prior, tps_grid, tps_warp


def brute_force_transfer(image: np.ndarray, references: np.ndarray, k: int, similarity: str = "l2") -> np.ndarray:
    """Loops: pad by k // 2 (edge), copy each position's nearest reference patch, average the k^2 copies per pixel."""
    _, channels, height, width = image.shape
    pad = k // 2
    padded = np.pad(image[0], ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    total = np.zeros((channels, height + 2 * pad, width + 2 * pad))
    count = np.zeros((height + 2 * pad, width + 2 * pad))
    for y in range(height):
        for x in range(width):
            query = padded[:, y : y + k, x : x + k].reshape(-1)  # channel-major, then rows
            if similarity == "l2":
                best = int(np.argmin(((references - query) ** 2).sum(axis=1)))
            else:
                unit = references / np.linalg.norm(references, axis=1, keepdims=True)
                best = int(np.argmax(unit @ (query / np.linalg.norm(query))))
            total[:, y : y + k, x : x + k] += references[best].reshape(channels, k, k)
            count[y : y + k, x : x + k] += 1
    return (total / count)[None, :, pad : pad + height, pad : pad + width]


def test_patches_are_ordered_as_unfold_orders_them():
    image = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    assert torch.equal(image_patches(image, 3), F.unfold(image, 3))


@pytest.mark.parametrize("k, similarity", [(3, "l2"), (5, "l2"), (3, "cosine")])
def test_transfer_copies_the_nearest_patch_and_averages_overlaps_as_a_brute_force_search_does(k, similarity):
    generator = torch.Generator().manual_seed(k)
    image = torch.rand(1, 3, 6, 7, generator=generator, dtype=torch.float64) * 2 - 1
    references = torch.rand(40, 3 * k * k, generator=generator, dtype=torch.float64) * 2 - 1
    expected = brute_force_transfer(image.numpy(), references.numpy(), k, similarity)
    np.testing.assert_allclose(patch_transfer(image, references, k, similarity).numpy(), expected, rtol=0, atol=1e-12)


def test_with_one_pixel_patches_the_transfer_maps_each_pixel_to_the_nearest_reference_colour():
    references = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    image = torch.tensor([[0.4, 0.6], [0.9, 0.1]]).expand(3, 2, 2).clone()[None]
    image[0, 1:, 1, 0] = 0.0  # (0.9, 0, 0): red
    out = patch_transfer(image, references, 1)
    assert out[0, :, 0, 0].tolist() == [0, 0, 0] and out[0, :, 0, 1].tolist() == [1, 1, 1]
    assert out[0, :, 1, 0].tolist() == [1, 0, 0] and out[0, :, 1, 1].tolist() == [0, 0, 0]


def test_an_image_transferred_against_its_own_patches_keeps_every_pixel_its_unpadded_patches_cover():
    image = torch.rand(1, 3, 7, 8, dtype=torch.float64)
    out = patch_transfer(image, reference_patches(image, 3), 3)
    # Pixels two or more from the border are covered only by patches of the image itself: the mean of
    # nine copies of the pixel (exact up to the sum's rounding).
    torch.testing.assert_close(out[:, :, 2:-2, 2:-2], image[:, :, 2:-2, 2:-2], rtol=0, atol=1e-15)
    assert not torch.allclose(out, image, atol=1e-3)  # the border is not: its padded patches are not in the image


def test_reference_patches_are_those_of_the_image_and_of_its_mirror():
    image = torch.rand(1, 3, 5, 6)
    patches = reference_patches(image, 3)
    assert patches.shape == (2 * 3 * 4, 27)
    assert torch.equal(patches[0], image[0, :, :3, :3].reshape(-1))
    assert torch.equal(patches[12], image.flip(3)[0, :, :3, :3].reshape(-1))


def test_the_differentiable_transfer_returns_the_hard_copy_and_carries_the_soft_assignments_gradient():
    image = torch.rand(1, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    references = torch.rand(30, 27, dtype=torch.float64)
    hard = patch_transfer(image.detach(), references, 3)
    soft = patch_transfer(image, references, 3, temperature=0.05, differentiable=True)
    torch.testing.assert_close(soft, hard, rtol=0, atol=1e-12)
    soft.sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_an_image_smaller_than_a_patch_is_still_transferred():
    image = torch.rand(1, 3, 2, 2, dtype=torch.float64)
    references = torch.rand(10, 75, dtype=torch.float64)
    np.testing.assert_allclose(patch_transfer(image, references, 5).numpy(), brute_force_transfer(image.numpy(), references.numpy(), 5), atol=1e-12)


def test_position_encoding_is_sin_and_cos_of_the_centred_positions_at_two_frequencies():
    encoding = position_encoding(torch.zeros(2, 1, 2, 4))
    assert encoding.shape == (2, 8, 2, 4)
    y, x = -0.5, -0.75  # pixel (0, 0) of 2 x 4: centres at (0.5 / 2) * 2 - 1 and (0.5 / 4) * 2 - 1
    expected = [math.sin(math.pi * y), math.cos(math.pi * y), math.sin(math.pi * x), math.cos(math.pi * x),
                math.sin(2 * math.pi * y), math.cos(2 * math.pi * y), math.sin(2 * math.pi * x), math.cos(2 * math.pi * x)]
    np.testing.assert_allclose(encoding[1, :, 0, 0].numpy(), expected, atol=1e-6)


def test_the_critic_has_three_branches_of_dilation_1_2_3_whose_maps_are_summed():
    critic = MultiScaleDiscriminator(4)
    for branch, dilation in zip(critic.branches, (1, 2, 3), strict=True):
        convs = [layer for layer in branch if isinstance(layer, torch.nn.Conv2d)]
        assert [conv.dilation for conv in convs] == [(dilation, dilation)] * 2 and [conv.padding for conv in convs] == [(dilation, dilation)] * 2
    image = torch.rand(1, 3, 9, 11)
    scores = critic(image)
    assert scores.shape == (1, 1, 9, 11)
    features = critic.head(image)
    torch.testing.assert_close(scores, critic.branches[0](features) + critic.branches[1](features) + critic.branches[2](features))


def test_the_generator_phase_critic_is_the_codes_flattened_global_one():
    # DEPNet's critic: 3x3 conv (C), three stride-2 3x3 convs to 2C, 4C, 8C, InstanceNorm + LeakyReLU
    # 0.2 after each, flattened into one linear score over 8C x ceil(h/8) x ceil(w/8) features.
    critic = GlobalDiscriminator(4, (20, 12))
    convs = [layer for layer in critic.body if isinstance(layer, torch.nn.Conv2d)]
    assert [(conv.in_channels, conv.out_channels, conv.stride) for conv in convs] == [(3, 4, (1, 1)), (4, 8, (2, 2)), (8, 16, (2, 2)), (16, 32, (2, 2))]
    assert sum(isinstance(layer, torch.nn.InstanceNorm2d) for layer in critic.body) == 4
    assert all(layer.negative_slope == 0.2 for layer in critic.body if isinstance(layer, torch.nn.LeakyReLU))
    assert critic.linear.in_features == 32 * 3 * 2  # flattened, not pooled (pooled: 32)
    assert critic(torch.rand(2, 3, 20, 12)).shape == (2, 1)
    # Sizes whose last map is one pixel (tiny presets) have no InstanceNorm there and still score.
    assert GlobalDiscriminator(4, (6, 8))(torch.rand(2, 3, 6, 8)).shape == (2, 1)


@pytest.mark.parametrize("residual", [True, False])
def test_the_restoration_multiplies_both_sides_by_8(residual):
    assert Restoration(4, 1, residual)(torch.rand(2, 3, 5, 7) * 2 - 1).shape == (2, 3, 40, 56)


def test_the_thin_plate_spline_sends_each_control_point_to_its_target():
    line = torch.linspace(-1, 1, 3, dtype=torch.float64)
    control = torch.stack(torch.meshgrid(line, line, indexing="xy"), dim=-1).reshape(-1, 2)
    target = control + 0.1 * torch.randn(control.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    grid = tps_grid(control, target, 5, 5)  # pixel centres at -1, -0.5, 0, 0.5, 1: control points at even indices
    torch.testing.assert_close(grid[0, ::2, ::2].reshape(-1, 2), target, rtol=0, atol=1e-9)


def test_a_warp_of_strength_zero_is_the_image_and_the_prior_holds_the_image_its_mirror_and_warps_of_both():
    image = torch.rand(1, 3, 6, 9)
    torch.testing.assert_close(tps_warp(image, 0.0), image, rtol=0, atol=1e-5)
    torch.manual_seed(0)
    prior = internal_prior(image, 2, 0.1)
    assert prior.shape == (6, 3, 6, 9)
    assert torch.equal(prior[0], image[0]) and torch.equal(prior[1], image[0].flip(2))
    assert not torch.allclose(prior[2], image[0], atol=1e-3)
