"""PetsGAN (seed 000, zhangzc21/PetsGAN): one end-to-end generator at 1/8 of the size, an internal
patch prior, and a learned 8x restoration, as three stages of the model interface:

- stage 0 (``first_stage``): unit noise (1 channel, low-resolution size) -> the prior generator's
  low-resolution image;
- stage 1: that image -> its nearest-patch transfer against the stored reference patches (the
  training image's low-resolution copy and its mirror);
- stage 2: the transferred image -> the restoration network's 8x image.

With its upsampler (``upsampler_channels`` > 0; artifacts from before it have none), a fourth
graph doubles the final image: high-resolution requests (UPSCALE 2 or 4) generate at the output
size / UPSCALE and run it once or twice (the paper's 1024 px from a 256 px model).

The state between stages is the RGB image itself (no to-RGB graph). Stages 1 and 2 take a
1-channel noise too, only for its size: each returns its image resized to that size (an identity
at the planned sizes), so any output size maps to stage sizes as for every model (``ceil(side / 8)``
at the low resolution). The reconstruction path feeds stage 0 the fixed noise the generator was
trained to reconstruct the image from (stored beside the weights).

Modes: sample (any size: the position encoding stretches with it), reconstruct, animate (a walk in
stage 0's noise) and style (a content image enters stage 1 in place of the generator's image).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from sigctl.core.model import GRAPH_FIRST_STAGE, GRAPH_STAGE, GRAPH_UPSAMPLER, UPSAMPLER_FACTOR, GraphSpec, ModelSpec, NoiseSpec
from sigctl.core.models.base import ExportGraph, GenerativeModel
from sigctl.core.models.petsgan_networks import PriorGenerator, Restoration, Similarity, patch_transfer
from sigctl.core.requests import MODE_ANIMATE, MODE_RECONSTRUCT, MODE_SAMPLE, MODE_STYLE
from sigctl.core.scales import PyramidLayout

MODES = (MODE_SAMPLE, MODE_RECONSTRUCT, MODE_ANIMATE, MODE_STYLE)
LOW_RESOLUTION = 1 / Restoration.FACTOR
STAGE_SCALES = (LOW_RESOLUTION, LOW_RESOLUTION, 1.0)


def petsgan_layout(height: int, width: int) -> PyramidLayout:
    """The stages of a height x width (multiples of 8) training image: low resolution twice, then full."""
    low = (height // Restoration.FACTOR, width // Restoration.FACTOR)
    return PyramidLayout(sizes=(low, low, (height, width)), scale_factor=float(Restoration.FACTOR), size_rounding="ceil", stage_scales=STAGE_SCALES)


class PetsGANConfig(BaseModel):
    """A PetsGAN model's shape (weights and reference patches are tensors beside it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sizes: list[tuple[int, int]] = Field(min_length=3, max_length=3, description="(height, width) of the three stages at the training size, px.")
    generator_channels: int = Field(64, ge=1, description="Channels of the prior generator's first conv.")
    generator_hidden: int = Field(128, ge=1, description="Channels of the prior generator's three InstanceNorm blocks.")
    patch_size: int = Field(7, ge=1, le=15, description="Side of the patches the transfer matches, px (odd).")
    similarity: Similarity = Field("l2", description="l2: Euclidean nearest raw RGB patch (GPNN); cosine: the code's similarity.")
    temperature: float = Field(0.01, gt=0, description="Softmax temperature of the soft assignment whose gradient training uses.")
    restoration_channels: int = Field(64, ge=1, description="Channels of the restoration network.")
    restoration_blocks: int = Field(4, ge=0, description="Conv blocks of the restoration network before its three x2 PixelShuffles.")
    restoration_residual: bool = Field(True, description="Restoration adds its learned detail to a bilinear upsampling (a departure; README).")
    upsampler_channels: int = Field(0, ge=0, description="Channels of the learned x2 upsampler (0: none, as in artifacts trained before it).")
    upsampler_blocks: int = Field(2, ge=0, description="Conv blocks of the upsampler before its x2 PixelShuffle.")


class PetsGANModel(GenerativeModel):
    """Prior generator, reference patches and restoration network, with the reconstruction noise."""

    model_class = "petsgan"
    config_type = PetsGANConfig

    def __init__(self, config: PetsGANConfig):
        super().__init__()
        self._config = config
        self.generator = PriorGenerator(config.generator_channels, config.generator_hidden)
        self.restoration = Restoration(config.restoration_channels, config.restoration_blocks, config.restoration_residual)
        # Residual like the restoration: bilinear x2 + learned detail (a blur, never grey, before it is trained).
        self.upsampler = Restoration(config.upsampler_channels, config.upsampler_blocks, True, doublings=1) if config.upsampler_channels else None
        (low_h, low_w) = config.sizes[0]
        k = config.patch_size
        count = 2 * max(0, low_h - k + 1) * max(0, low_w - k + 1)
        self.register_buffer("reference", torch.zeros(count, 3 * k * k))
        self.register_buffer("reconstruction_noise", torch.zeros(1, 1, low_h, low_w))

    @classmethod
    def from_config(cls, config: PetsGANConfig) -> "PetsGANModel":
        return cls(config)

    @property
    def config(self) -> PetsGANConfig:
        return self._config

    @property
    def layout(self) -> PyramidLayout:
        return petsgan_layout(*self._config.sizes[-1])

    def transfer(self, image: torch.Tensor, differentiable: bool = False) -> torch.Tensor:
        config = self._config
        return patch_transfer(image, self.reference, config.patch_size, config.similarity, config.temperature, differentiable)

    def synthesize(self, noise: torch.Tensor, differentiable: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(low-resolution image, full image) at the training sizes: what the joint phase trains."""
        low = self.generator(noise)
        return low, self.restoration(self.transfer(low, differentiable))

    # -- the model interface -------------------------------------------------------------------------
    def spec(self, recipe: str | None = None) -> ModelSpec:
        graphs = (
            GraphSpec("stage_00", GRAPH_FIRST_STAGE, 0, ("noise",), ("state",)),
            GraphSpec("stage_01", GRAPH_STAGE, 1, ("previous", "noise"), ("state",)),
            GraphSpec("stage_02", GRAPH_STAGE, 2, ("previous", "noise"), ("state",)),
        )
        if self.upsampler is not None:
            graphs += (GraphSpec("upsampler", GRAPH_UPSAMPLER, None, ("image",), ("upscaled",)),)
        return ModelSpec(
            model_class=self.model_class,
            recipe=recipe or self.model_class,
            layout=self.layout,
            noises=(NoiseSpec(1),) * 3,
            noise_amplitudes=(1.0, 0.0, 0.0),
            state_channels=3,
            first_stage_input="nothing",
            injection="state",
            reconstruction_noise="zeros",
            modes=MODES,
            graphs=graphs,
            extra={
                "plan": "generator at 1/8 size, patch transfer, 8x restoration",
                "patch_size": self._config.patch_size,
                "similarity": self._config.similarity,
                "reference_patches": int(self.reference.shape[0]),
                "upsampler": f"learned x{UPSAMPLER_FACTOR}" if self.upsampler is not None else "none",
                "parameters": sum(p.numel() for p in self.parameters()),
            },
        )

    def run_stage(self, stage: int, state: torch.Tensor | None, noise: torch.Tensor) -> torch.Tensor:
        if stage == 0:
            return self.generator(noise)
        image = self.transfer(state) if stage == 1 else self.restoration(state)
        return sized_like(image, noise)

    def reconstruction_input(self) -> torch.Tensor:
        return self.reconstruction_noise

    def upsample(self, image: torch.Tensor) -> torch.Tensor:
        if self.upsampler is None:
            return super().upsample(image)
        return self.upsampler(image)

    def export_graphs(self) -> list[ExportGraph]:
        sizes = self.layout.sizes
        batch = {0: "batch", 2: "height", 3: "width"}
        previous_axes = {0: "batch", 2: "previous_height", 3: "previous_width"}
        graphs = [ExportGraph(self.spec().graphs[0], _Stage(self, 0), (torch.zeros(1, 1, *sizes[0]),), {"noise": batch, "state": batch})]
        for stage in (1, 2):
            # The previous (low-resolution) image a little off its planned size, so the trace records a real resize.
            previous = torch.zeros(1, 3, sizes[stage - 1][0] + 1, sizes[stage - 1][1] + 2)
            inputs = (previous, torch.zeros(1, 1, *sizes[stage]))
            axes = {"previous": previous_axes, "noise": batch, "state": batch}
            graphs.append(ExportGraph(self.spec().graphs[stage], _Stage(self, stage), inputs, axes))
        if self.upsampler is not None:
            upscaled_axes = {0: "batch", 2: "upscaled_height", 3: "upscaled_width"}
            inputs = (torch.zeros(1, 3, *sizes[-1]),)
            graphs.append(ExportGraph(self.spec().graphs[3], self.upsampler, inputs, {"image": batch, "upscaled": upscaled_axes}))
        return graphs


def sized_like(image: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``image`` resized (bilinear) to the noise's height and width; exactly itself when they match."""
    if not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export() and image.shape[2:] == noise.shape[2:]:
        return image
    return F.interpolate(image, size=noise.shape[2:], mode="bilinear", align_corners=False)


class _Stage(nn.Module):
    def __init__(self, model: PetsGANModel, stage: int):
        super().__init__()
        self.model, self.stage = model, stage

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.stage == 0:
            return self.model.run_stage(0, None, inputs[0])
        return self.model.run_stage(self.stage, inputs[0], inputs[1])
