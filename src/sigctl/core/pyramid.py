"""The pyramid forward pass: one path for training, in-process sampling and export.

A sample is built coarse to fine: start from an image entering ``start_scale`` (zeros at the
coarsest, the reconstruction of coarser scales, or an injected image), then at each scale upsample
to that scale's size and add the generator's residual. What enters and which noise is used is
decided by ``sigctl.core.operations``; ``TorchExecutor`` runs it here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sigctl.config import NetworkSettings
from sigctl.core.generator import ScaleGenerator
from sigctl.core.operations import MODE_SAMPLE, Request, execute
from sigctl.core.requests import RequestLimits
from sigctl.core.scales import PyramidLayout
from sigctl.errors import RequestError

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
        like = self.reconstruction_noise
        zeros = [torch.zeros(1, 3, *size, device=like.device, dtype=like.dtype) for size in self.layout.sizes[1:num_scales]]
        return [self.reconstruction_noise, *zeros][:num_scales]

    @torch.no_grad()
    def reconstruct(self, up_to: int | None = None) -> torch.Tensor:
        """The reconstruction of the training image at scale ``up_to - 1`` (default: the finest trained)."""
        up_to = self.num_trained if up_to is None else up_to
        entering = torch.zeros_like(self.reconstruction_noise)
        return self.run(entering, self.reconstruction_noises(up_to))


class TorchExecutor:
    """Runs operations (``sigctl.core.operations``) on a PyTorch pyramid, in process."""

    def __init__(self, pyramid: Pyramid, reference: np.ndarray | None = None, super_resolution_factor: float | None = None):
        self.pyramid = pyramid.eval()
        self.layout = pyramid.layout
        self.super_resolution_factor = super_resolution_factor
        self._reference = reference
        self._reconstructions: dict[int, np.ndarray] = {}

    @torch.no_grad()
    def run_scales(self, start_scale: int, entering: np.ndarray, noises: Sequence[np.ndarray]) -> np.ndarray:
        # At the pyramid's own precision: float32 normally, float64 for exact reference tests.
        like = self.pyramid.reconstruction_noise
        image = torch.from_numpy(np.ascontiguousarray(entering)).to(like.device, like.dtype)
        noise_tensors = [torch.from_numpy(np.ascontiguousarray(noise)).to(like.device, like.dtype) for noise in noises]
        try:
            return self.pyramid.run(image, noise_tensors, start_scale).cpu().numpy()
        except RuntimeError as error:
            # PyTorch reports a failed allocation (CPU or CUDA) as a RuntimeError; it is a resource problem.
            if "can't allocate memory" in str(error) or "out of memory" in str(error):
                raise MemoryError(str(error).splitlines()[0]) from None
            raise

    def reconstruction(self, scale: int) -> np.ndarray:
        if scale not in self._reconstructions:
            self._reconstructions[scale] = self.pyramid.reconstruct(up_to=scale + 1).cpu().numpy()
        return self._reconstructions[scale]

    def reconstruction_noise(self) -> np.ndarray:
        return self.pyramid.reconstruction_noise.cpu().numpy()

    def reference(self) -> np.ndarray:
        if self._reference is None:
            raise RequestError("this operation needs the training image; load the pyramid with sigctl.artifact.load")
        return self._reference


def sample_images(
    pyramid: Pyramid,
    num_samples: int,
    seed: int,
    height: int | None = None,
    width: int | None = None,
    start_scale: int = 0,
    limits: RequestLimits = RequestLimits(),
) -> np.ndarray:
    """Validated, batched sampling: NxHxWx3 uint8, sample i drawn with seed ``seed + i``.

    Height and width default to the training size.
    """
    request = Request(MODE_SAMPLE, seed, num_samples, height, width, start_scale)
    return execute(TorchExecutor(pyramid), request, limits)
