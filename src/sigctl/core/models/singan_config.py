"""SinGAN's own model config: everything needed to rebuild its generators, nothing about training.

Kept apart from the networks (no torch) so training settings can embed ``NetworkSettings``.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sigctl.core.scales import PyramidLayout, SizeRounding

PaddingMode = Literal["zero", "replicate", "circular"]


class NetworkSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_channels: int = Field(32, ge=1, description="Feature channels at the coarsest scale.")
    max_channels: int = Field(128, ge=1, description="Cap on feature channels.")
    channel_doubling_interval: int = Field(4, ge=1, description="Channels double every this many scales.")
    num_blocks: int = Field(5, ge=2, description="Conv3x3 blocks per network (the last is the output conv).")
    kernel_size: int = Field(3, ge=1, description="Convolution kernel size, px (odd).")
    leaky_relu_slope: float = Field(0.2, ge=0.0, lt=1.0, description="Negative slope of LeakyReLU.")
    padding_mode: PaddingMode = Field(
        "zero", description="How the generator input is padded once before its unpadded convolutions (seed 003 compares them)."
    )

    @field_validator("kernel_size")
    @classmethod
    def _odd_kernel(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"the kernel size must be odd (unpadded convolutions eat (k - 1) / 2 px per side), got {value}")
        return value

    def channels_at(self, scale: int) -> int:
        """Feature channels of the networks at pyramid scale ``scale`` (0 = coarsest)."""
        return min(self.base_channels * 2 ** (scale // self.channel_doubling_interval), self.max_channels)


class SinGANConfig(BaseModel):
    """A trained SinGAN pyramid's shape: its scales and networks (weights are tensors beside it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sizes: list[tuple[int, int]] = Field(min_length=1, description="(height, width) per scale, coarsest first, px.")
    scale_factor: float = Field(gt=1.0, description="Size ratio between neighbouring scales.")
    size_rounding: SizeRounding = Field("round", description="How other output sizes map to scale sizes (ceil: the reference plan).")
    network: NetworkSettings = NetworkSettings()
    super_resolution_factor: Optional[float] = Field(
        None, gt=1.0, description="The upscaling factor the pyramid was trained for (super-resolution setting), else null."
    )

    @property
    def layout(self) -> PyramidLayout:
        return PyramidLayout(sizes=tuple(tuple(size) for size in self.sizes), scale_factor=self.scale_factor, size_rounding=self.size_rounding)
