"""ConSinGAN's settings, with the defaults of its public code (tohinz/ConSinGAN ``config.py``)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from sigctl.config.common import AdamSettings, LossSettings, RunSettings, Settings
from sigctl.core.models.consingan import stage_layout
from sigctl.core.models.consingan_networks import plan_stages
from sigctl.core.scales import PyramidLayout, fit_exactly
from sigctl.errors import SettingsError


class StageSettings(Settings):
    num_stages: int = Field(6, ge=1, le=16, description="Stages of the generator (the reference's train_stages).")
    max_size: int = Field(250, ge=16, le=4096, description="Longer side of the finest stage, px; larger images are downscaled.")
    min_size: int = Field(25, ge=8, le=1024, description="Shorter side of the coarsest stage, px.")
    spacing: Literal["dense", "geometric"] = Field(
        "dense", description="dense: more stages at low resolution (the reference's default); geometric: its harmonization mode's spacing."
    )


class ConSinGANNetworkSettings(Settings):
    channels: int = Field(64, ge=1, description="Feature channels of the generator and discriminator.")
    kernel_size: int = Field(3, ge=1, description="Convolution kernel size, px (odd).")
    layers_per_block: int = Field(3, ge=1, description="Convs per generator stage block (the reference's num_layer).")
    discriminator_layers: int = Field(3, ge=1, description="Convs between the discriminator's first and last conv.")
    leaky_relu_slope: float = Field(0.05, ge=0.0, lt=1.0, description="Negative slope of LeakyReLU.")
    batch_norm: bool = Field(False, description="BatchNorm in the generator (off in the reference's defaults).")
    mode: Literal["generation", "retarget"] = Field(
        "generation", description="generation: noise with a margin past each stage, features upsampled past the size; retarget: zero padding."
    )

    @field_validator("kernel_size")
    @classmethod
    def _odd_kernel(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"the kernel size must be odd (unpadded convolutions eat (k - 1) / 2 px per side), got {value}")
        return value


class ConSinGANOptimizerSettings(AdamSettings):
    iterations_per_stage: int = Field(2000, ge=1, description="Training iterations per stage.")
    concurrent_stages: int = Field(3, ge=1, description="Newest stages trained at once (the reference's train_depth); older blocks are frozen.")
    lr_scale: float = Field(
        0.1, gt=0, le=1.0, description="Learning-rate factor per stage below the newest (x1, x0.1, x0.01); the head trains at lr x lr_scale**stage."
    )
    generator_update: Literal["repeat_step", "fresh_gradient"] = Field(
        "repeat_step",
        description=(
            "repeat_step: one backward, then generator_steps optimiser steps on that same gradient (the reference code's quirk); "
            "fresh_gradient: a new forward and backward for every generator step."
        ),
    )


class ConSinGANSettings(RunSettings):
    """ConSinGAN: a growing feature-space generator, the newest stages trained concurrently."""

    recipe: Literal["consingan"] = Field("consingan", description="Training recipe.")
    # Where the CLI's --max-size and --iterations go in this recipe's settings.
    max_size_path: ClassVar[tuple[str, ...]] = ("stages", "max_size")
    iterations_path: ClassVar[tuple[str, ...]] = ("optimizer", "iterations_per_stage")
    stages: StageSettings = StageSettings()
    network: ConSinGANNetworkSettings = ConSinGANNetworkSettings()
    optimizer: ConSinGANOptimizerSettings = ConSinGANOptimizerSettings()
    loss: LossSettings = LossSettings()

    def fit_size(self, source_height: int, source_width: int) -> tuple[int, int]:
        """The training size (finest stage): the longer side at most max_size, sides rounded up (the reference's resize)."""
        return fit_exactly(source_height, source_width, self.stages.max_size)

    def plan_pyramid(self, source_height: int, source_width: int) -> PyramidLayout:
        """The stages these settings give for a source image (before fitting)."""
        stages, network = self.stages, self.network
        plan = plan_stages(source_height, source_width, stages.max_size, stages.min_size, stages.num_stages, stages.spacing)
        # The critic's unpadded convs must leave at least one score on the coarsest stage.
        patch = 1 + (network.discriminator_layers + 2) * (network.kernel_size - 1)
        height, width = plan.sizes[0]
        if min(height, width) < patch:
            raise SettingsError(
                f"the coarsest stage is {height}x{width} px, smaller than the discriminator's {patch}x{patch} px patch "
                f"(kernel_size {network.kernel_size}, {network.discriminator_layers} layers): raise stages.min_size to at least "
                f"{patch} or use a smaller network.kernel_size or network.discriminator_layers"
            )
        return stage_layout(plan.sizes, plan.scales)
