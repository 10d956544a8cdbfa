"""The pyramid forward pass: one path for training, in-process sampling and export.

A sample is built coarse to fine: start from an image entering ``start_scale`` (zeros at the
coarsest, or the reconstruction of coarser scales, or later an injected image), then at each scale
upsample to that scale's size and add the generator's residual.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sigctl.config import NetworkSettings
from sigctl.core.generator import ScaleGenerator
from sigctl.core.pixels import to_uint8
from sigctl.core.noise import scale_noise
from sigctl.core.requests import RequestLimits, check_start_scale, resolve_sample_request
from sigctl.core.scales import PyramidLayout, request_sizes

Size = tuple[int, int]


def upsample(image: torch.Tensor, size: Size) -> torch.Tensor:
    """Resize between scales (bilinear, half-pixel centres); identity at equal size."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False)


def scale_step(generator: nn.Module, noise_amplitude: torch.Tensor, previous: torch.Tensor, unit_noise: torch.Tensor) -> torch.Tensor:
    """One scale: bring ``previous`` to the noise's size, then add the generator's residual.

    The exported per-scale graphs are exactly this function, so eager and served paths agree.
    """
    entering = upsample(previous, tuple(unit_noise.shape[-2:]))
    return generator(unit_noise * noise_amplitude, entering)


class Pyramid(nn.Module):
    """Trained generators, their noise amplitudes and the reconstruction noise.

    During training the pyramid grows one scale at a time; ``num_trained`` is how many scales
    have generators so far.
    """

    def __init__(self, layout: PyramidLayout, network: NetworkSettings):
        super().__init__()
        self.layout = layout
        self.network = network
        self.generators = nn.ModuleList()
        self.register_buffer("noise_amplitudes", torch.zeros(0))
        # z* of the paper, at the coarsest training size, one channel repeated over RGB.
        self.register_buffer("reconstruction_noise", torch.zeros(1, 3, *layout.sizes[0]))

    @classmethod
    def with_scales(cls, layout: PyramidLayout, network: NetworkSettings, noise_amplitudes: Sequence[float]) -> "Pyramid":
        """A pyramid with untrained generators for the given scales, ready for ``load_state_dict``."""
        pyramid = cls(layout, network)
        for scale, amplitude in enumerate(noise_amplitudes):
            pyramid.append_scale(pyramid.new_generator(scale), amplitude)
        return pyramid

    @property
    def num_trained(self) -> int:
        return len(self.generators)

    def new_generator(self, scale: int) -> ScaleGenerator:
        return ScaleGenerator(self.network.channels_at(scale), self.network)

    def append_scale(self, generator: ScaleGenerator, noise_amplitude: float) -> None:
        """Freeze a trained generator and add it as the next scale."""
        generator.eval().requires_grad_(False)
        self.generators.append(generator)
        amplitude = torch.tensor([noise_amplitude], dtype=torch.float32, device=self.noise_amplitudes.device)
        self.noise_amplitudes = torch.cat([self.noise_amplitudes, amplitude])

    def run(self, entering: torch.Tensor, noises: Sequence[torch.Tensor], start_scale: int = 0) -> torch.Tensor:
        """Run scales ``start_scale .. start_scale + len(noises) - 1``.

        Args:
            entering: image entering ``start_scale`` (any size; it is resized to that scale's).
            noises: unit noise per scale run, each at that scale's size, which sets the sizes.
        """
        image = entering
        for offset, noise in enumerate(noises):
            scale = start_scale + offset
            image = scale_step(self.generators[scale], self.noise_amplitudes[scale], image, noise)
        return image

    def reconstruction_noises(self, num_scales: int | None = None) -> list[torch.Tensor]:
        """z_rec = {z*, 0, ..., 0} at the training sizes."""
        num_scales = self.num_trained if num_scales is None else num_scales
        zeros = [torch.zeros(1, 3, *size, device=self.reconstruction_noise.device) for size in self.layout.sizes[1:num_scales]]
        return [self.reconstruction_noise, *zeros][:num_scales]

    @torch.no_grad()
    def reconstruct(self, up_to: int | None = None) -> torch.Tensor:
        """The reconstruction of the training image at scale ``up_to - 1`` (default: the finest trained)."""
        up_to = self.num_trained if up_to is None else up_to
        entering = torch.zeros(1, 3, *self.layout.sizes[0], device=self.reconstruction_noise.device)
        return self.run(entering, self.reconstruction_noises(up_to))

    @torch.no_grad()
    def sample(self, seeds: Sequence[int], height: int, width: int, start_scale: int = 0) -> torch.Tensor:
        """Random samples as an Nx3xHxW float tensor in [-1, 1].

        Sample i depends only on ``seeds[i]`` and the request, never on the batch it is in.
        Scales below ``start_scale`` follow the reconstruction (the paper's generation from scale
        n), stretched to the requested size, so coarse structure stays that of the training image.
        """
        check_start_scale(self.layout, start_scale)
        sizes = request_sizes(self.layout, height, width)
        device = self.noise_amplitudes.device
        if start_scale == 0:
            entering = torch.zeros(len(seeds), 3, *sizes[0], device=device)
        else:
            coarse = upsample(self.reconstruct(up_to=start_scale), sizes[start_scale])
            entering = coarse.expand(len(seeds), -1, -1, -1)
        noises = [
            torch.from_numpy(np.stack([scale_noise(seed, scale, *sizes[scale], single_channel=scale == 0) for seed in seeds])).to(device)
            for scale in range(start_scale, self.num_trained)
        ]
        return self.run(entering, noises, start_scale)


def sample_images(
    pyramid: Pyramid,
    num_samples: int,
    seed: int,
    height: int | None = None,
    width: int | None = None,
    start_scale: int = 0,
    limits: RequestLimits = RequestLimits(),
    batch_size: int = 8,
) -> np.ndarray:
    """Validated, batched sampling: NxHxWx3 uint8, sample i drawn with seed ``seed + i``.

    Height and width default to the training size.
    """
    height, width = resolve_sample_request(pyramid.layout, limits, num_samples, seed, height, width, start_scale)
    batches = []
    for first in range(0, num_samples, batch_size):
        seeds = range(seed + first, seed + min(first + batch_size, num_samples))
        batches.append(to_uint8(pyramid.sample(list(seeds), height, width, start_scale).cpu().numpy()))
    return np.concatenate(batches)
