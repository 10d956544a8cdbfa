"""SinGAN (seeds 001/002): a stack of per-scale residual generators on RGB images.

A sample is built coarse to fine: the image entering the start scale (zeros at the coarsest, the
reconstruction of coarser scales, or an injected image) is upsampled to each scale's size and the
scale's generator adds its residual. The state between stages is the RGB image itself; the
coarsest noise is one channel repeated over RGB; the reconstruction path is z_rec = {z*, 0, ..., 0}.
With ``super_resolution_factor`` set, the model also answers super-resolution (SinGAN's sr
setting: an exact factor between scales, the finest generator applied repeatedly).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sigctl.core.generator import ScaleGenerator
from sigctl.core.model import GRAPH_STAGE, GraphSpec, ModelSpec, NoiseSpec
from sigctl.core.models.base import ExportGraph, GenerativeModel
from sigctl.core.models.singan_config import NetworkSettings, SinGANConfig
from sigctl.core.requests import MODE_STYLE, MODE_SUPER_RESOLVE, MODES
from sigctl.core.scales import PyramidLayout

Size = tuple[int, int]
STAGE_INPUTS = ("previous", "noise")
STAGE_OUTPUTS = ("state",)


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


class SinGANModel(GenerativeModel):
    """Trained generators, their noise amplitudes and the reconstruction noise z*.

    During training the pyramid grows one scale at a time; ``num_trained`` is how many scales
    have generators so far.
    """

    model_class = "singan"
    config_type = SinGANConfig

    def __init__(self, layout: PyramidLayout, network: NetworkSettings, super_resolution_factor: float | None = None):
        super().__init__()
        self.layout = layout
        self.network = network
        self.super_resolution_factor = super_resolution_factor
        self.generators = nn.ModuleList()
        self.register_buffer("noise_amplitudes", torch.zeros(0))
        # z* of the paper, at the coarsest training size, one channel repeated over RGB.
        self.register_buffer("reconstruction_noise", torch.zeros(1, 3, *layout.sizes[0]))

    @classmethod
    def with_scales(
        cls, layout: PyramidLayout, network: NetworkSettings, noise_amplitudes: Sequence[float], super_resolution_factor: float | None = None
    ) -> "SinGANModel":
        """A pyramid with untrained generators for the given scales, ready for ``load_state_dict``."""
        pyramid = cls(layout, network, super_resolution_factor)
        for scale, amplitude in enumerate(noise_amplitudes):
            pyramid.append_scale(pyramid.new_generator(scale), amplitude)
        return pyramid

    @classmethod
    def from_config(cls, config: SinGANConfig) -> "SinGANModel":
        return cls.with_scales(config.layout, config.network, [0.0] * len(config.sizes), config.super_resolution_factor)

    @property
    def config(self) -> SinGANConfig:
        return SinGANConfig(
            sizes=list(self.layout.sizes), scale_factor=self.layout.scale_factor, size_rounding=self.layout.size_rounding,
            network=self.network, super_resolution_factor=self.super_resolution_factor,
        )

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

    # -- the model interface -------------------------------------------------------------------------
    def spec(self, recipe: str = "singan") -> ModelSpec:
        modes = tuple(m for m in MODES if m != MODE_STYLE and (m != MODE_SUPER_RESOLVE or self.super_resolution_factor is not None))
        num = self.num_trained
        return ModelSpec(
            model_class=self.model_class,
            recipe=recipe,
            layout=PyramidLayout(self.layout.sizes[:num], self.layout.scale_factor, self.layout.size_rounding),
            noises=tuple(NoiseSpec(3, 0, shared_channel=scale == 0) for scale in range(num)),
            noise_amplitudes=tuple(self.noise_amplitudes.tolist()),
            state_channels=3,
            first_stage_input="zeros_state",
            injection="state",
            reconstruction_noise="zeros",
            modes=modes,
            graphs=tuple(GraphSpec(f"stage_{scale:02d}", GRAPH_STAGE, scale, STAGE_INPUTS, STAGE_OUTPUTS) for scale in range(num)),
            super_resolution_factor=self.super_resolution_factor,
            extra={"stage_channels": [self.network.channels_at(scale) for scale in range(num)], "padding": self.network.padding_mode},
        )

    def run_stage(self, stage: int, state: torch.Tensor | None, noise: torch.Tensor) -> torch.Tensor:
        return scale_step(self.generators[stage], self.noise_amplitudes[stage], state, noise)

    def reconstruction_input(self) -> torch.Tensor:
        return self.reconstruction_noise

    def export_graphs(self) -> list[ExportGraph]:
        graphs = []
        for graph_spec in self.spec().graphs:
            scale = graph_spec.stage
            height, width = self.layout.sizes[scale]
            # Different sizes for previous and noise, so the trace records a real, shape-driven resize.
            previous = torch.zeros(1, 3, max(1, height - 3), max(1, width - 5))
            axes = {"previous": {0: "batch", 2: "previous_height", 3: "previous_width"},
                    "noise": {0: "batch", 2: "height", 3: "width"}, "state": {0: "batch", 2: "height", 3: "width"}}
            graphs.append(ExportGraph(graph_spec, _ScaleGraph(self, scale), (previous, torch.zeros(1, 3, height, width)), axes))
        return graphs

    # -- training helpers ----------------------------------------------------------------------------
    def run(self, entering: torch.Tensor, noises: Sequence[torch.Tensor], start_scale: int = 0) -> torch.Tensor:
        """Run scales ``start_scale .. start_scale + len(noises) - 1``.

        Args:
            entering: image entering ``start_scale`` (any size; it is resized to that scale's).
            noises: unit noise per scale run, each at that scale's size, which sets the sizes.
        """
        image = entering
        for offset, noise in enumerate(noises):
            image = self.run_stage(start_scale + offset, image, noise)
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


class _ScaleGraph(nn.Module):
    """A frozen generator with its noise amplitude, as ``scale_step`` runs it (argument names are
    the graph's input names: Triton's libtorch backend binds inputs by them)."""

    def __init__(self, model: SinGANModel, scale: int):
        super().__init__()
        self.generator = model.generators[scale]
        self.register_buffer("noise_amplitude", model.noise_amplitudes[scale].detach().clone())

    def forward(self, previous: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return scale_step(self.generator, self.noise_amplitude, previous, noise)
