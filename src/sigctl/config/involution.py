"""The dilated-involution recipe's settings (seed 004; no public code): ConSinGAN's, with 500
iterations per stage, the involution's shape, and the self-supervised critic's weight.

The operator's defaults (K = 3, G = 4, r = 1, d = 3, layer padding, plain-conv head and tail) are
the paper's where it gives them (d = 3; 0.21M generator parameters, which K = 3, G = 4, r = 1 come
closest to) and measured choices where it does not: README "Dilated involution" and
``bench/involution.py``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sigctl.config.common import LossSettings
from sigctl.config.consingan import ConSinGANNetworkSettings, ConSinGANOptimizerSettings, ConSinGANSettings
from sigctl.core.models.dilated_involution import check_groups


class InvolutionNetworkSettings(ConSinGANNetworkSettings):
    dilation: int = Field(3, ge=1, le=16, description="Px between the involution's taps, d (the paper's best trade: 3; larger copies more).")
    groups: int = Field(4, ge=1, description="Involution groups G (channels of a group share a kernel per position); must divide channels.")
    reduction: int = Field(1, ge=1, description="Reduction r of the kernel-generating net: hidden width = channels / r.")
    padding: Literal["block", "layer"] = Field(
        "layer",
        description=(
            "layer: every involution zero-pads its own input (measured best: README); block: unpadded layers, each stage "
            "zero-pads once for its whole block (ConSinGAN's way; 9 px margins at dilation 3)."
        ),
    )
    involution_head_tail: bool = Field(False, description="Make the generator's head and tail involution blocks too (default: plain convs; README, measured).")

    @model_validator(mode="after")
    def _groups_divide_channels(self) -> "InvolutionNetworkSettings":
        check_groups(self.channels, self.groups)
        return self


class InvolutionOptimizerSettings(ConSinGANOptimizerSettings):
    iterations_per_stage: int = Field(500, ge=1, description="Training iterations per stage (the paper: 500, a quarter of ConSinGAN's).")


class InvolutionLossSettings(LossSettings):
    decoder_weight: float = Field(5.0, ge=0, description="beta: weight of the critic's decoder reconstruction loss (0 = no decoders).")
    decoder_loss: Literal["mse", "l1"] = Field("mse", description="Distance of the decoders' reconstructions to the real image and crop.")


class InvolutionSettings(ConSinGANSettings):
    """Seed 004: ConSinGAN with dilated involutions and a self-supervised critic, 500 iterations per stage."""

    recipe: Literal["involution"] = Field("involution", description="Training recipe.")
    network: InvolutionNetworkSettings = InvolutionNetworkSettings()
    optimizer: InvolutionOptimizerSettings = InvolutionOptimizerSettings()
    loss: InvolutionLossSettings = InvolutionLossSettings()
