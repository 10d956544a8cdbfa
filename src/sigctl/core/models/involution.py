"""Seed 004's generator: ConSinGAN's growing generator with dilated involutions in its body.

Everything but the layers is ConSinGAN's (stages, feature-space concurrent stages, noise with a
margin, the shared tail, the seeded reconstruction path, the graphs and the modes): the model is
``ConSinGANModel`` with another ``layers``. Each 3x3 body conv becomes a dilated involution
followed by a 1x1 conv (``dilated_involution.InvolutionBlock``); head and tail stay plain convs
unless ``involution_head_tail``.

The paper leaves K, G and r open; of the small choices, K = 3, G = 4, r = 1 at 64 channels come
closest to its 0.21M generator parameters (0.198M here; the defaults), and G = 4 is also the
involution paper's 16 channels per group.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from torch import nn

from sigctl.core.models.consingan import ConSinGANConfig, ConSinGANModel
from sigctl.core.models.consingan_networks import IMAGE_CHANNELS, ConvBlock, Layers, with_border
from sigctl.core.models.dilated_involution import InvolutionBlock, check_groups


class InvolutionConfig(ConSinGANConfig):
    """ConSinGAN's config plus the operator's shape (``kernel_size`` is the involution's K)."""

    dilation: int = Field(3, ge=1, le=16, description="Px between the involution's taps (the paper's d).")
    groups: int = Field(4, ge=1, description="Involution groups G: the channels of a group share one kernel per position.")
    reduction: int = Field(1, ge=1, description="Reduction r of the kernel-generating net (hidden width channels / r).")
    padding: Literal["block", "layer"] = Field(
        "layer", description="layer: each involution zero-pads its own input; block: unpadded layers, the stage pads once for its block (ConSinGAN's way)."
    )
    involution_head_tail: bool = Field(False, description="Head and tail as involution blocks too (default: plain convs).")

    @model_validator(mode="after")
    def _groups_divide_channels(self) -> "InvolutionConfig":
        check_groups(self.channels, self.groups)
        return self


class InvolutionLayers:
    """The layer factory of the involution generator (see ``consingan_networks.Layers``)."""

    def __init__(self, config: InvolutionConfig):
        self.config = config

    def _block(self, in_channels: int, out_channels: int, groups: int, activation: bool = True) -> InvolutionBlock:
        c = self.config
        return InvolutionBlock(
            in_channels, out_channels, c.kernel_size, c.dilation, groups, c.reduction, c.padding, c.leaky_relu_slope,
            c.batch_norm, activation,
        )

    def head(self) -> nn.Module:
        c = self.config
        if c.involution_head_tail:
            return self._block(IMAGE_CHANNELS, c.channels, groups=1)  # 3 channels: one group
        return ConvBlock(IMAGE_CHANNELS, c.channels, c.kernel_size, c.leaky_relu_slope, c.batch_norm)

    def body_layer(self) -> nn.Module:
        return self._block(self.config.channels, self.config.channels, self.config.groups)

    def tail(self) -> nn.Module:
        c = self.config
        if c.involution_head_tail:
            block = self._block(c.channels, IMAGE_CHANNELS, c.groups, activation=False)
            return with_border(nn.Sequential(block, nn.Tanh()), block.border)
        return with_border(nn.Sequential(nn.Conv2d(c.channels, IMAGE_CHANNELS, c.kernel_size), nn.Tanh()), (c.kernel_size - 1) // 2)


class InvolutionModel(ConSinGANModel):
    """The involution generator: a ConSinGAN model built of ``InvolutionLayers``."""

    model_class = "involution"
    config_type = InvolutionConfig

    @staticmethod
    def layers(config: InvolutionConfig) -> Layers:
        return InvolutionLayers(config)
