"""The training pairs of PetsGAN's fourth phase, the learned x2 upsampler of high-resolution requests.

The paper trains a new DIPNet "with 4 times upscaling only trained by reconstruction loss" to take a
256 px synthesis to 1024 px. Here the upsampler doubles (run once for 512 px, twice for 1024 px), so
its pairs are (an image at half size, the image):

- the targets are a *detail image* and its halvings while their longer side is at least the training
  image's: the source image fitted to ``size.upsampler_max_size`` when it is larger than the
  training size (``PetsGANSettings.high_resolution_size``; stored with the run), else the training
  image itself, whose one pair is its own half (ZSSR's internal learning);
- every side of a target is even and its input is the target resized to half (the same antialiased
  cubic resize that builds the training pyramid);
- an iteration takes one level and ``batch`` random crops of it (target side ``size.upsampler_crop``
  or the level's side where smaller; offsets even, so input and target crops align), mirrored at
  random. Crops bound the phase's memory whatever the detail image's size.

Random choices come from torch's generator, which the loop seeds per phase and checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sigctl.core.pixels import resize


@dataclass(frozen=True)
class UpsamplerLevel:
    """One (input, target) pair of whole images: 1 x 3 x h x w and 1 x 3 x 2h x 2w in [-1, 1]."""

    low: torch.Tensor
    target: torch.Tensor


def level_sizes(detail_size: tuple[int, int], training_size: tuple[int, int]) -> list[tuple[int, int]]:
    """Target sizes: the detail image's (sides rounded down to even) and its halvings, down to the
    training image's longer side (always at least the first)."""
    height, width = detail_size
    sizes = []
    divisor = 1
    while not sizes or max(height, width) / divisor >= max(training_size):
        sizes.append(tuple(max(2, 2 * (side // (2 * divisor))) for side in (height, width)))  # rounded down: never enlarged
        divisor *= 2
    return sizes


def upsampler_levels(detail: torch.Tensor, training_size: tuple[int, int], device: torch.device) -> list[UpsamplerLevel]:
    """The pairs of every level of ``detail`` (1 x 3 x H x W in [-1, 1])."""
    image = detail[0].detach().cpu().numpy()
    levels = []
    for height, width in level_sizes(tuple(image.shape[1:]), training_size):
        target = resize(image, height, width)
        low = resize(target, height // 2, width // 2)
        levels.append(UpsamplerLevel(*(torch.from_numpy(np.ascontiguousarray(a))[None].to(device) for a in (low, target))))
    return levels


def random_pairs(levels: list[UpsamplerLevel], batch: int, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets): ``batch`` aligned random crops of one random level, each mirrored at random."""
    level = levels[int(torch.randint(len(levels), ()))]
    height, width = level.target.shape[2:]
    crop_h, crop_w = min(crop // 2 * 2, height), min(crop // 2 * 2, width)
    lows, targets = [], []
    for _ in range(batch):
        # Even offsets in the target are whole pixels of the input.
        y = 2 * int(torch.randint((height - crop_h) // 2 + 1, ()))
        x = 2 * int(torch.randint((width - crop_w) // 2 + 1, ()))
        low = level.low[:, :, y // 2 : (y + crop_h) // 2, x // 2 : (x + crop_w) // 2]
        target = level.target[:, :, y : y + crop_h, x : x + crop_w]
        if bool(torch.rand(()) < 0.5):
            low, target = low.flip(3), target.flip(3)
        lows.append(low)
        targets.append(target)
    return torch.cat(lows), torch.cat(targets)
