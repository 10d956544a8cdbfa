"""ConSinGAN (tohinz/ConSinGAN): one growing generator in feature space, stages trained concurrently.

Stage 0 reads 3-channel noise (or, on the reconstruction path and for harmonization/editing, the
coarsest real or naive image) through the head into 64-channel features; each later stage's body
block refines upsampled features with 64-channel noise that carries a margin past the stage size
(generation mode); the shared tail makes RGB once, at the end. Stages are dense at low resolution
(``consingan_networks.stage_scales``). The reconstruction path feeds the coarsest real image at
stage 0 and fixed noise above, drawn here from the hash noise with ``reconstruction_seed`` so the
served runtime makes the same noise without storing it.

Modes: samples of any size and aspect, reconstruct, animate, and harmonize/edit by injecting the
naive image in place of stage 0's input (the reference has no paint-to-image or super-resolution).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from sigctl.core.model import GRAPH_FIRST_STAGE, GRAPH_STAGE, GRAPH_TO_RGB, GraphSpec, ModelSpec, NoiseSpec
from sigctl.core.models.base import ExportGraph, GenerativeModel
from sigctl.core.models.consingan_networks import ConvLayers, GrowingGenerator, Layers
from sigctl.core.requests import MODE_ANIMATE, MODE_EDIT, MODE_HARMONIZE, MODE_RECONSTRUCT, MODE_SAMPLE
from sigctl.core.scales import PyramidLayout

MODES = (MODE_SAMPLE, MODE_RECONSTRUCT, MODE_HARMONIZE, MODE_EDIT, MODE_ANIMATE)


def stage_layout(sizes, stage_scales) -> PyramidLayout:
    """ConSinGAN's stages as a layout: sizes at the training size, ``ceil(side x scale)`` for other
    sizes (the reference's resize rule). ``scale_factor`` only describes the coarsest-to-finest span."""
    sizes = tuple(tuple(size) for size in sizes)
    span = min(sizes[-1]) / min(sizes[0])
    return PyramidLayout(sizes=sizes, scale_factor=max(span, 1.0 + 1e-6), size_rounding="ceil", stage_scales=tuple(stage_scales))


class ConSinGANConfig(BaseModel):
    """A ConSinGAN generator's shape: its stages and networks (weights are tensors beside it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sizes: list[tuple[int, int]] = Field(min_length=1, description="(height, width) per stage, coarsest first, px.")
    stage_scales: list[float] = Field(min_length=1, description="Each stage's size ratio to the finest (last 1.0); other output sizes use them.")
    channels: int = Field(64, ge=1, description="Feature channels between stages.")
    kernel_size: int = Field(3, ge=1, description="Conv kernel size, px (odd).")
    layers_per_block: int = Field(3, ge=1, description="Convs per stage block.")
    leaky_relu_slope: float = Field(0.05, ge=0.0, lt=1.0, description="Negative slope of LeakyReLU.")
    batch_norm: bool = Field(False, description="BatchNorm after each head and body conv (off in the reference).")
    mode: Literal["generation", "retarget"] = Field(
        "generation", description="generation: noise with a margin, features upsampled past the stage size; retarget: zero padding."
    )
    reconstruction_seed: int = Field(0, ge=0, lt=2**63, description="Noise seed of the fixed reconstruction noise above stage 0.")


class ConSinGANModel(GenerativeModel):
    """The growing generator with its noise amplitudes and the reconstruction path's first input."""

    model_class = "consingan"
    config_type = ConSinGANConfig

    def __init__(self, config: ConSinGANConfig, num_stages: int = 1):
        super().__init__()
        self._config = config
        self.generator = GrowingGenerator(
            config.channels, config.kernel_size, config.layers_per_block, config.leaky_relu_slope, config.batch_norm, config.mode,
            layers=self.layers(config),
        )
        for _ in range(num_stages - 1):
            self.generator.init_next_stage()
        self.register_buffer("noise_amplitudes", torch.ones(num_stages))
        # The coarsest real image: what the reconstruction path feeds stage 0.
        self.register_buffer("coarsest_real", torch.zeros(1, 3, *config.sizes[0]))

    @staticmethod
    def layers(config: ConSinGANConfig) -> Layers:
        """What the generator is built of: ConSinGAN's unpadded convs (a variant overrides this alone)."""
        return ConvLayers(config.channels, config.kernel_size, config.leaky_relu_slope, config.batch_norm)

    @classmethod
    def from_config(cls, config: ConSinGANConfig) -> "ConSinGANModel":
        return cls(config, num_stages=len(config.sizes))

    @property
    def config(self) -> ConSinGANConfig:
        return self._config

    @property
    def num_trained(self) -> int:
        return self.generator.num_stages

    @property
    def layout(self) -> PyramidLayout:
        return stage_layout(self._config.sizes, self._config.stage_scales)

    def grow(self, noise_amplitude: float) -> None:
        """Add the next stage: its block a copy of the newest (the reference's warm start)."""
        self.generator.init_next_stage()
        amplitude = torch.tensor([noise_amplitude], dtype=self.noise_amplitudes.dtype, device=self.noise_amplitudes.device)
        self.noise_amplitudes = torch.cat([self.noise_amplitudes, amplitude])

    def noise_spec(self, stage: int) -> NoiseSpec:
        return NoiseSpec(self.generator.noise_channels(stage), self.generator.noise_margin if stage > 0 else 0)

    # -- the model interface -------------------------------------------------------------------------
    def spec(self, recipe: str | None = None) -> ModelSpec:
        num = self.num_trained
        layout = self.layout
        scales = layout.stage_scales[:num]
        if num < layout.num_scales:
            # A model still in training: its newest stage is the finest one so far.
            scales = tuple(scale / scales[-1] for scale in scales)
        graphs = [GraphSpec("stage_00", GRAPH_FIRST_STAGE, 0, ("noise",), ("state",))]
        graphs += [GraphSpec(f"stage_{stage:02d}", GRAPH_STAGE, stage, ("previous", "noise"), ("state",)) for stage in range(1, num)]
        graphs.append(GraphSpec("to_rgb", GRAPH_TO_RGB, None, ("state",), ("image",)))
        return ModelSpec(
            model_class=self.model_class,
            recipe=recipe or self.model_class,
            layout=PyramidLayout(layout.sizes[:num], layout.scale_factor, "ceil", scales),
            noises=tuple(self.noise_spec(stage) for stage in range(num)),
            noise_amplitudes=tuple(self.noise_amplitudes.tolist()),
            state_channels=self._config.channels,
            first_stage_input="nothing",
            injection="first_noise",
            reconstruction_noise="seeded",
            reconstruction_seed=self._config.reconstruction_seed,
            modes=MODES,
            graphs=tuple(graphs),
            extra={"mode": self._config.mode, "parameters": sum(p.numel() for p in self.generator.parameters())},
        )

    def run_stage(self, stage: int, state: torch.Tensor | None, noise: torch.Tensor) -> torch.Tensor:
        if stage == 0:
            return self.generator.first_stage(noise)
        return self.generator.stage_step(stage, state, noise, self.noise_amplitudes[stage])

    def to_rgb(self, state: torch.Tensor) -> torch.Tensor:
        return self.generator.to_rgb(state)

    def reconstruction_input(self) -> torch.Tensor:
        return self.coarsest_real

    def export_graphs(self) -> list[ExportGraph]:
        spec, channels = self.spec(), self._config.channels
        sizes = spec.layout.sizes
        batch = {0: "batch", 2: "height", 3: "width"}
        graphs = []
        for graph in spec.graphs:
            if graph.role == GRAPH_FIRST_STAGE:
                inputs = (torch.zeros(1, 3, *sizes[0]),)
                graphs.append(ExportGraph(graph, _FirstStageGraph(self.generator), inputs, {"noise": batch, "state": batch}))
            elif graph.role == GRAPH_STAGE:
                stage = graph.stage
                # Previous features at another size than this stage's, so the trace records a real resize.
                previous = torch.zeros(1, channels, *sizes[stage - 1])
                noise = torch.zeros(1, *self.noise_spec(stage).shape(*sizes[stage]))
                axes = {"previous": {0: "batch", 2: "previous_height", 3: "previous_width"}, "noise": batch, "state": batch}
                graphs.append(ExportGraph(graph, _StageGraph(self.generator, stage, self.noise_amplitudes[stage]), (previous, noise), axes))
            else:
                inputs = (torch.zeros(1, channels, *sizes[-1]),)
                graphs.append(ExportGraph(graph, _ToRGBGraph(self.generator), inputs, {"state": batch, "image": batch}))
        return graphs


class _FirstStageGraph(nn.Module):
    def __init__(self, generator: GrowingGenerator):
        super().__init__()
        self.generator = generator

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.generator.first_stage(noise)


class _StageGraph(nn.Module):
    def __init__(self, generator: GrowingGenerator, stage: int, noise_amplitude: torch.Tensor):
        super().__init__()
        self.generator, self.stage = generator, stage
        self.register_buffer("noise_amplitude", noise_amplitude.detach().clone())

    def forward(self, previous: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.generator.stage_step(self.stage, previous, noise, self.noise_amplitude)


class _ToRGBGraph(nn.Module):
    def __init__(self, generator: GrowingGenerator):
        super().__init__()
        self.generator = generator

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.generator.to_rgb(state)
